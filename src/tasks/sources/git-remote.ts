import { execFile } from 'node:child_process';

/**
 * git's environment for a remote: no prompts, and a token (if any) in through GIT_CONFIG_*,
 * never on a command line where other users of the machine could read it.
 */
export function gitEnvironment(token: string | null): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, GIT_TERMINAL_PROMPT: '0', GIT_ASKPASS: 'true' };
  if (token) {
    env.GIT_CONFIG_COUNT = '1';
    env.GIT_CONFIG_KEY_0 = 'http.extraHeader';
    env.GIT_CONFIG_VALUE_0 = `Authorization: Basic ${Buffer.from(`x-access-token:${token}`).toString('base64')}`;
  }
  return env;
}

/** The commit at the head of `branch` (null: the repository's default branch), by `git ls-remote`. */
export async function gitRemoteHead(url: string, branch: string | null, token: string | null): Promise<{ branch: string; commit: string }> {
  const output = await new Promise<string>((resolve, reject) => {
    const args = branch ? ['ls-remote', url, `refs/heads/${branch}`] : ['ls-remote', '--symref', url, 'HEAD'];
    execFile('git', args, { env: gitEnvironment(token), timeout: 60_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`git ls-remote ${url} failed: ${(stderr || error.message).trim()}`));
      else resolve(stdout);
    });
  });
  if (!branch) {
    const symref = /^ref: refs\/heads\/(\S+)\s+HEAD$/m.exec(output);
    const head = /^([0-9a-f]{40,64})\s+HEAD$/m.exec(output);
    if (!symref || !head) throw new Error(`${url} has no default branch`);
    return { branch: symref[1]!, commit: head[1]! };
  }
  const line = output.split('\n').find((l) => l.endsWith(`\trefs/heads/${branch}`));
  if (!line) throw new Error(`${url} has no branch ${branch}`);
  return { branch, commit: line.split('\t')[0]! };
}
