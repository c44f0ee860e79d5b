import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before } from 'node:test';
import { OciClient } from './oci-client.js';

export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
export const cliPath = join(repoRoot, 'dist/src/cli/main.js');
/** Every test server's admin password (set through BERTH_ADMIN_PASSWORD on first start). */
export const adminPassword = 'test-admin-password';
export const adminCredentials = { username: 'admin', password: adminPassword };

export interface BerthProcess {
  url: string;
  /** host:port, as image references need it. */
  host: string;
  dataDir: string;
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `berth-${prefix}-`));
}

/** Starts `berth serve` as a real child process on a free loopback port and waits until it listens. */
export async function startBerth(
  options: { dataDir?: string; args?: string[]; env?: NodeJS.ProcessEnv; omitDataDirFlag?: boolean } = {},
): Promise<BerthProcess> {
  const dataDir = options.dataDir ?? tempDir('data');
  const dataDirFlag = options.omitDataDirFlag ? [] : ['--data-dir', dataDir];
  // As ./berth starts it (see the flag's reason there).
  const args = ['--no-memory-reducer', cliPath, 'serve', '--listen', '127.0.0.1:0', ...dataDirFlag, ...(options.args ?? [])];
  const child = spawn(process.execPath, args, {
    // Rate limits off by default so suites that fire many requests are not throttled; the
    // rate-limit tests switch them on.
    env: { ...process.env, BERTH_LOG_LEVEL: 'info', BERTH_ADMIN_PASSWORD: adminPassword, BERTH_RATE_LIMIT_RPS: '0', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const listening = new Promise<string>((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const match = /listening on (https?:\/\/[^\s]+)/.exec(err);
      if (match) resolve(match[1]!);
    });
    child.once('exit', (code) => reject(new Error(`berth exited with ${code} before listening:\n${err}`)));
    setTimeout(() => reject(new Error(`berth did not start in time:\n${err}`)), 20_000).unref();
  });
  const url = await listening;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    url,
    host: new URL(url).host,
    dataDir,
    child,
    stdout: () => out,
    stderr: () => err,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** One server for a whole test file: started before its tests, stopped after them. */
export function serverForSuite(): { readonly berth: BerthProcess; readonly client: OciClient } {
  const suite = {} as { berth: BerthProcess; client: OciClient };
  before(async () => {
    suite.berth = await startBerth();
    suite.client = new OciClient(suite.berth.url);
  });
  after(async () => {
    await suite.berth.stop();
  });
  return suite;
}
