import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serverNodeFlags } from '../src/cli/node-flags.js';

export interface Target {
  name: string;
  url: string;
  /** The server's process id (for profilers), when it runs in a process of its own. */
  pid?: number;
  stop(): Promise<void>;
}

/** What the bench signs in with when Berth runs with authentication on. */
export const berthCredentials = { user: 'admin', password: 'bench-admin-password' };

const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const bareServer = fileURLToPath(new URL('./bare-server.js', import.meta.url));

async function waitForHttp(url: string, child: ChildProcess, log: () => string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`exited early: ${log()}`);
    try {
      const res = await fetch(`${url}/v2/`);
      if (res.status === 200 || res.status === 401) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`did not start: ${log()}`);
}

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/**
 * Berth as `./berth serve` runs it, with authentication on (the default) unless `auth` is false.
 * `BENCH_BERTH_NODE_ARGS` adds Node flags (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`).
 */
export async function startBerthTarget(port: number, auth = true, env: NodeJS.ProcessEnv = {}): Promise<Target> {
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-berth-'));
  const nodeArgs = (process.env.BENCH_BERTH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  // As ./berth starts it.
  const child = spawn(
    process.execPath,
    [...serverNodeFlags, ...nodeArgs, cli, 'serve', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir, '--log-level', 'warn', '--auth', auth ? 'required' : 'none'],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, BERTH_ADMIN_PASSWORD: berthCredentials.password, ...env } },
  );
  let log = '';
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(url, child, () => log);
  return { name: 'berth', url, pid: child.pid, stop: () => stopChild(child).then(() => rmSync(dataDir, { recursive: true, force: true })) };
}

/** CNCF Distribution (Debian's docker-registry) on filesystem storage, access log off like Berth's. */
export async function startDistributionTarget(port: number): Promise<Target> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-distribution-'));
  const config = join(dir, 'config.yml');
  writeFileSync(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: warn',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${join(dir, 'data')}`,
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: 127.0.0.1:${port}`,
      '',
    ].join('\n'),
  );
  const child = spawn('docker-registry', ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(url, child, () => log);
  return { name: 'distribution', url, pid: child.pid, stop: () => stopChild(child).then(() => rmSync(dir, { recursive: true, force: true })) };
}

/**
 * The bare limits of the blob path (see bare-server.ts), in a process of its own like the
 * registries, so the client's work never shares its thread; with Berth's V8 flags, so the gap is
 * Berth's code, not the runtime's settings.
 */
export async function startBareTarget(port: number): Promise<Target> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-bare-'));
  const child = spawn(process.execPath, [...serverNodeFlags, bareServer, String(port), dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(url, child, () => log);
  return { name: 'bare', url, pid: child.pid, stop: () => stopChild(child).then(() => rmSync(dir, { recursive: true, force: true })) };
}
