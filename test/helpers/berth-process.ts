import { type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before } from 'node:test';
import { OciClient } from './oci-client.js';
import { spawnTracked, stopProcess, type CleanupScope } from './processes.js';
import { serverNodeFlags } from '../../src/cli/node-flags.js';

export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
export const cliPath = join(repoRoot, 'dist/src/cli/main.js');
/** Every test server's admin password (set through BERTH_ADMIN_PASSWORD on first start). */
export const adminPassword = 'test-admin-password';
export const adminCredentials = { username: 'admin', password: adminPassword };

/**
 * How long `berth serve` may take to listen. Start-up is a second or two on an idle machine; on
 * a loaded one (other jobs on both cores) it has taken over 10 s, so the deadline is generous.
 */
export const startDeadlineMs = 60_000;
/** How long a SIGTERM'd server may take to drain before it is SIGKILLed. */
export const stopGraceMs = 15_000;

export interface BerthProcess {
  url: string;
  /** host:port, as image references need it. */
  host: string;
  dataDir: string;
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /**
   * Sends `signal` (SIGTERM by default), escalates to SIGKILL after `stopGraceMs`, and resolves
   * with the exit code (null when a signal ended it). Safe to call more than once.
   */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `berth-${prefix}-`));
}

/**
 * Starts `berth serve` as a real child process on a free loopback port and waits until it
 * listens. Pass the test context as `t` (or any `{ after }`) and the server is stopped after the
 * test however it ends; without one the caller stops it (`after`, `finally`). Either way a server
 * still running when the test process exits is killed then (see processes.ts).
 */
export async function startBerth(
  options: { dataDir?: string; args?: string[]; env?: NodeJS.ProcessEnv; omitDataDirFlag?: boolean; t?: CleanupScope } = {},
): Promise<BerthProcess> {
  const dataDir = options.dataDir ?? tempDir('data');
  const dataDirFlag = options.omitDataDirFlag ? [] : ['--data-dir', dataDir];
  // As ./berth starts it.
  const args = [...serverNodeFlags, cliPath, 'serve', '--listen', '127.0.0.1:0', ...dataDirFlag, ...(options.args ?? [])];
  const child = spawnTracked(process.execPath, args, {
    // Rate limits off by default so suites that fire many requests are not throttled; the
    // rate-limit tests switch them on.
    env: { ...process.env, BERTH_LOG_LEVEL: 'info', BERTH_ADMIN_PASSWORD: adminPassword, BERTH_RATE_LIMIT_RPS: '0', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    unref: true,
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const stop = (signal: NodeJS.Signals = 'SIGTERM') => stopProcess(child, { signal, graceMs: stopGraceMs });
  options.t?.after(() => stop());
  let deadline: NodeJS.Timeout | undefined;
  const listening = new Promise<string>((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const match = /listening on (https?:\/\/[^\s]+)/.exec(err);
      if (match) resolve(match[1]!);
    });
    child.once('exit', (code, signal) => reject(new Error(`berth exited with ${code ?? signal} before listening:\n${err}`)));
    child.once('error', (error) => reject(new Error(`berth could not be started: ${error.message}`)));
    // A ref'd timer: it also keeps this process alive while the (unref'd) child starts.
    deadline = setTimeout(() => reject(new Error(`berth did not listen within ${startDeadlineMs} ms:\n${err}`)), startDeadlineMs);
  });
  let url: string;
  try {
    url = await listening;
  } catch (error) {
    await stop('SIGKILL');
    throw error;
  } finally {
    clearTimeout(deadline);
  }
  return {
    url,
    host: new URL(url).host,
    dataDir,
    child,
    stdout: () => out,
    stderr: () => err,
    stop,
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
    await suite.berth?.stop();
  });
  return suite;
}
