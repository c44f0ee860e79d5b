import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RegistryLogin } from '../task-runner.js';

/**
 * The `berth` / `acr` built-in: Berth's own CLI beside the agent, with a config of its own,
 * logged in to the registry as the run (so it can do what the run may, nothing more).
 */
export async function runBerthCli(args: string[], registryUrl: string, login: RegistryLogin | null, log: (text: string) => void, signal: AbortSignal): Promise<number> {
  const configDir = await mkdtemp(join(tmpdir(), 'berth-run-cli-'));
  const env = { ...process.env, BERTH_CONFIG_DIR: configDir };
  const cli = fileURLToPath(new URL('../../cli/main.js', import.meta.url));
  const spawnCli = (cliArgs: string[], quiet: boolean) =>
    new Promise<number>((resolve, reject) => {
      const child = spawn(process.execPath, [cli, ...cliArgs], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      const forward = (chunk: Buffer) => (quiet ? undefined : log(chunk.toString('utf8')));
      child.stdout.on('data', forward);
      child.stderr.on('data', forward);
      const kill = () => child.kill('SIGTERM');
      signal.addEventListener('abort', kill, { once: true });
      child.on('error', reject);
      child.on('close', (code) => {
        signal.removeEventListener('abort', kill);
        resolve(code ?? 1);
      });
    });
  try {
    await spawnCli(['login', registryUrl, '-u', login?.username ?? 'run', '-p', login?.password ?? 'none'], true);
    return await spawnCli(args, false);
  } finally {
    await rm(configDir, { recursive: true, force: true });
  }
}
