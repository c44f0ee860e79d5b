import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream, mkdtempSync, writeFileSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { fileURLToPath } from 'node:url';

export interface Target {
  name: string;
  url: string;
  stop(): Promise<void>;
}

const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

async function waitForHttp(url: string, child: ChildProcess, log: () => string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`exited early: ${log()}`);
    try {
      const res = await fetch(`${url}/v2/`);
      if (res.status === 200) return;
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

export async function startBerthTarget(port: number): Promise<Target> {
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-berth-'));
  // As ./berth starts it (see the flag's reason there).
  const child = spawn(process.execPath, ['--no-memory-reducer', cli, 'serve', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir, '--log-level', 'warn', '--auth', 'none'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(url, child, () => log);
  return { name: 'berth', url, stop: () => stopChild(child) };
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
  return { name: 'distribution', url, stop: () => stopChild(child) };
}

/**
 * The bare limit of the blob path on this machine: node:http streaming a request body through
 * sha256 into a file, fsync and rename (the durability Berth promises), and nothing else.
 */
export async function startBareTarget(port: number): Promise<Target> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-bare-'));
  let n = 0;
  const server: Server = createServer((req, res) => {
    const file = join(dir, `upload-${n++}`);
    const hash = createHash('sha256');
    const tap = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        hash.update(chunk);
        callback(null, chunk);
      },
    });
    pipeline(req, tap, createWriteStream(file, { flush: true }))
      .then(async () => {
        await rename(file, join(dir, `blob-${hash.digest('hex')}`));
        const handle = await open(dir, 'r');
        await handle.sync();
        await handle.close();
        res.writeHead(201, { 'Content-Length': '0' }).end();
      })
      .catch(() => res.writeHead(500).end());
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    name: 'bare',
    url: `http://127.0.0.1:${port}`,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
