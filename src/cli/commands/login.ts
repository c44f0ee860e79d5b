import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { CliError, errorMessage, requestToken } from '../api-client.js';
import { normalizeServer, removeLogin, saveLogin } from '../credentials.js';
import { outputFormat, printMessage, withOutput } from '../output.js';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

/** Asks for the password without echoing it. */
async function prompt(question: string): Promise<string> {
  if (!process.stdin.isTTY) throw new CliError('no password given: use -p, --password-stdin, or run in a terminal');
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  const muted = rl as unknown as { _writeToOutput: (s: string) => void };
  process.stderr.write(question);
  muted._writeToOutput = () => undefined;
  const answer = await new Promise<string>((resolve) => rl.question('', resolve));
  rl.close();
  process.stderr.write('\n');
  return answer;
}

export function registerLoginCommands(program: Command): void {
  withOutput(
    program
      .command('login <server-url>')
      .description('log in to a Berth registry; credentials are kept (as a refresh token, mode 0600) under BERTH_CONFIG_DIR')
      .option('-u, --username <name>', 'user or token name')
      .option('-n, --name <name>', 'a name for this registry, for -r/--registry (as az acr names)')
      .option('-p, --password <password>', 'password (prefer --password-stdin)')
      .option('--password-stdin', 'read the password from standard input'),
  ).action(async (serverUrl: string, options: { username?: string; name?: string; password?: string; passwordStdin?: boolean; output?: string }) => {
    const format = outputFormat(options);
    const server = normalizeServer(serverUrl);
    if (!options.username) throw new CliError('give a username with -u');
    const password = options.passwordStdin ? await readStdin() : (options.password ?? (await prompt('Password: ')));
    let response: Response;
    try {
      response = await requestToken(server, { grant_type: 'password', username: options.username, password, access_type: 'offline' });
    } catch (error) {
      throw new CliError(`cannot reach ${server}: ${(error as Error).message}`);
    }
    if (response.status === 404) {
      saveLogin({ server, username: options.username, refreshToken: null, ...(options.name ? { name: options.name } : {}) });
      printMessage(format, `${server} runs without authentication; saved as the current registry`, { server, authentication: false });
      return;
    }
    if (!response.ok) throw new CliError(`login failed: ${await errorMessage(response)}`);
    const body = (await response.json()) as { refresh_token?: string };
    if (!body.refresh_token) throw new CliError('login failed: the server issued no refresh token');
    saveLogin({ server, username: options.username, refreshToken: body.refresh_token, ...(options.name ? { name: options.name } : {}) });
    printMessage(format, 'Login Succeeded', { server, username: options.username, loggedIn: true });
  });

  withOutput(program.command('logout [server-url]').description('forget the credentials of a registry (default: the current one)')).action(
    async (serverUrl: string | undefined, options: { output?: string }) => {
      const removed = removeLogin(serverUrl);
      if (!removed) throw new CliError('not logged in');
      printMessage(outputFormat(options), `Removed login credentials for ${removed}`, { server: removed, loggedIn: false });
    },
  );
}
