import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { leanDownloads } from './lean-download.js';
import { BenchClient, expectStatus, pool, type ClientAuth } from './http-client.js';

export interface Measurement {
  workload: string;
  unit: string;
  value: number;
  seconds: number;
  /** CPU time the server process used during the workload (user + system), when its pid is known. */
  serverCpuSeconds?: number;
}

export interface BenchData {
  smallBlobs: Buffer[];
  smallDigests: string[];
  largeBlobs: Buffer[];
  largeDigests: string[];
  manifestCount: number;
  reads: number;
  /** Makes every blob new (another digest) for round `round`, so no round re-pushes stored content. */
  prepare(round: number): void;
}

const MiB = 1024 * 1024;
const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** The workloads' names, shared by every target (the bare limits use the blob ones). */
export const workloadNames = {
  pushSmall: 'blob push 1 MiB, monolithic, c=8',
  pushLarge: (mib: number, count: number) => `blob push ${count}x${mib} MiB in 8 MiB chunks, c=2`,
  pullSmall: 'blob pull 1 MiB, c=8',
  pullLarge: (mib: number, count: number) => `blob pull ${count}x${mib} MiB, 2 GETs each, c=4`,
};

export function makeBenchData(options: { smallCount: number; largeCount: number; largeSize: number; manifestCount: number; reads: number }): BenchData {
  const smallBlobs = Array.from({ length: options.smallCount }, () => randomBytes(MiB));
  // Separate buffers: two large pushes run at once.
  const largeBlobs = Array.from({ length: options.largeCount }, () => randomBytes(options.largeSize));
  const data: BenchData = {
    smallBlobs,
    smallDigests: [],
    largeBlobs,
    largeDigests: [],
    manifestCount: options.manifestCount,
    reads: options.reads,
    prepare(round: number) {
      const stamp = (b: Buffer, i: number): Buffer => {
        b.writeUInt32BE(round, 0);
        b.writeUInt32BE(i, 4);
        return b;
      };
      data.smallDigests = smallBlobs.map((b, i) => sha256(stamp(b, i)));
      data.largeDigests = largeBlobs.map((b, i) => sha256(stamp(b, i)));
    },
  };
  data.prepare(0);
  return data;
}

function withDigest(location: string, digest: string): string {
  return `${location}${location.includes('?') ? '&' : '?'}digest=${encodeURIComponent(digest)}`;
}

/** Clock ticks per second of /proc's CPU times. */
let clockTicks: number | null = null;

/**
 * A process's CPU time so far (user + system, children excluded), from /proc: steadier than
 * throughput on a shared machine, and it shows what each server spends per MiB or request while
 * the client (the same for all) may be what limits the throughput.
 */
function processCpuSeconds(pid: number): number {
  clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / clockTicks;
}

async function timedRun(workload: string, unit: string, amount: number, work: () => Promise<void>, serverPid?: number): Promise<Measurement> {
  // Flush dirty pages first (untimed), so a target never pays for the previous target's writes.
  execFileSync('sync');
  const cpuBefore = serverPid === undefined ? 0 : processCpuSeconds(serverPid);
  const start = process.hrtime.bigint();
  await work();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const measurement: Measurement = { workload, unit, value: amount / seconds, seconds };
  if (serverPid !== undefined) measurement.serverCpuSeconds = processCpuSeconds(serverPid) - cpuBefore;
  return measurement;
}

/**
 * Runs `work` timed, or, when `--only` leaves it out, not at all (`needed`: untimed, because a
 * later workload reads what it writes).
 */
function timer(only: Only, serverPid?: number) {
  return async (workload: string, unit: string, amount: number, work: () => Promise<void>, needed = false): Promise<Measurement | null> => {
    if (!only || selection(only).some((o) => workload.includes(o))) return timedRun(workload, unit, amount, work, serverPid);
    if (needed) await work();
    return null;
  };
}

/**
 * Which workloads run: null for all, else those whose name contains the text (or one of the
 * texts: the lifecycle section names the two pull workloads).
 */
export type Only = string | string[] | null;
const selection = (only: string | string[]): string[] => (Array.isArray(only) ? only : [only]);

/** Whether a section (named by a prefix such as 'manifest', or a workload's full name) has a selected workload. */
export const wanted = (only: Only, ...names: string[]): boolean => !only || names.some((n) => selection(only).some((o) => n.includes(o) || o.includes(n)));

export async function pushMonolithic(client: BenchClient, repo: string, blob: Buffer, digest: string): Promise<void> {
  const started = expectStatus(await client.call('POST', `/v2/${repo}/blobs/uploads/`), 202, 'start upload');
  const location = started.headers.location as string;
  expectStatus(await client.call('PUT', withDigest(location, digest), blob, { 'Content-Type': 'application/octet-stream' }), 201, 'put blob');
}

export async function pushChunked(client: BenchClient, repo: string, blob: Buffer, digest: string, chunkSize: number): Promise<void> {
  const started = expectStatus(await client.call('POST', `/v2/${repo}/blobs/uploads/`), 202, 'start upload');
  let location = started.headers.location as string;
  for (let offset = 0; offset < blob.length; offset += chunkSize) {
    const chunk = blob.subarray(offset, Math.min(offset + chunkSize, blob.length));
    const res = expectStatus(
      await client.call('PATCH', location, chunk, {
        'Content-Type': 'application/octet-stream',
        'Content-Range': `${offset}-${offset + chunk.length - 1}`,
      }),
      202,
      'patch',
    );
    location = res.headers.location as string;
  }
  expectStatus(await client.call('PUT', withDigest(location, digest)), 201, 'finish upload');
}

async function pullAll(client: BenchClient, paths: string[], gets: number, concurrency: number, expectedSize: number): Promise<void> {
  await pool(paths.length * gets, concurrency, async (i) => {
    const res = expectStatus(await client.call('GET', paths[i % paths.length]!, undefined, {}, true), 200, 'get blob');
    if (res.size !== expectedSize) throw new Error(`get blob: ${res.size} bytes, expected ${expectedSize}`);
  });
}

/**
 * Untimed, once per target before the first round: 100 monolithic 1 MiB pushes and two pulls of
 * each. A server's first few hundred requests run while V8 still compiles its hot paths on
 * background threads of the same two cores: Berth's first round of 1 MiB pushes ran at ~60% of
 * its later ones, with ~6 ms of CPU per push outside its main thread against ~2 later. Real
 * registries serve warm. Bare targets take plain PUTs and GETs, as in their workloads.
 */
export async function warmUp(base: string, target: 'registry' | 'bare', auth: ClientAuth = { mode: 'none' }): Promise<void> {
  const client = new BenchClient(base, 8, auth);
  const blobs = Array.from({ length: 100 }, () => randomBytes(MiB));
  const digests = blobs.map((b) => sha256(b));
  try {
    if (target === 'bare') {
      await pool(blobs.length, 8, async (i) => void expectStatus(await client.call('PUT', '/bare', blobs[i]), 201, 'bare put'));
      await pullAll(client, digests.map((d) => `/bare/${d.slice('sha256:'.length)}`), 2, 8, MiB);
    } else {
      await pool(blobs.length, 8, (i) => pushMonolithic(client, 'bench/warmup', blobs[i]!, digests[i]!));
      await pullAll(client, digests.map((d) => `/v2/bench/warmup/blobs/${d}`), 2, 8, MiB);
    }
  } finally {
    client.close();
  }
}

/** The registry workloads, run identically against each target. */
export async function registryWorkloads(
  base: string,
  data: BenchData,
  log: (m: Measurement) => void,
  only: Only = null,
  auth: ClientAuth = { mode: 'none' },
  serverPid?: number,
): Promise<Measurement[]> {
  const results: Measurement[] = [];
  const record = (m: Measurement | null): void => {
    if (!m) return;
    results.push(m);
    log(m);
  };
  const timed = timer(only, serverPid);
  const c8 = new BenchClient(base, 8, auth);
  const c32 = new BenchClient(base, 32, auth);
  const small = data.smallBlobs;
  const large = data.largeBlobs;
  const largeSize = large[0]!.length;
  const names = { pushLarge: workloadNames.pushLarge(largeSize / MiB, large.length), pullLarge: workloadNames.pullLarge(largeSize / MiB, large.length) };

  record(
    await timed(
      workloadNames.pushSmall,
      'MiB/s',
      small.length,
      () => pool(small.length, 8, (i) => pushMonolithic(c8, 'bench/small', small[i]!, data.smallDigests[i]!)),
      wanted(only, workloadNames.pullSmall, 'manifest', 'tags'),
    ),
  );
  record(
    await timed(
      names.pushLarge,
      'MiB/s',
      (large.length * largeSize) / MiB,
      () => pool(large.length, 2, (i) => pushChunked(c8, 'bench/large', large[i]!, data.largeDigests[i]!, 8 * MiB)),
      wanted(only, names.pullLarge),
    ),
  );
  record(
    await timed(workloadNames.pullSmall, 'MiB/s', small.length * 2, () =>
      pullAll(c8, data.smallDigests.map((d) => `/v2/bench/small/blobs/${d}`), 2, 8, MiB),
    ),
  );
  const largePaths = data.largeDigests.map((d) => `/v2/bench/large/blobs/${d}`);
  const largeHeaders = wanted(only, names.pullLarge) ? await c8.authorizationHeaders(largePaths[0]!) : {};
  record(
    await timed(names.pullLarge, 'MiB/s', (large.length * 2 * largeSize) / MiB, () => leanDownloads(base, largePaths, 2, 4, largeSize, largeHeaders)),
  );

  if (wanted(only, 'manifest', 'tags')) {
    // One config and layer shared by every manifest; an annotation makes each digest unique.
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, created: data.smallDigests[0] }));
    const configDigest = sha256(config);
    await pushMonolithic(c8, 'bench/manifests', config, configDigest);
    await pushMonolithic(c8, 'bench/manifests', small[0]!, data.smallDigests[0]!);
    const manifests = Array.from({ length: data.manifestCount }, (_, i) =>
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
          layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: data.smallDigests[0], size: MiB }],
          annotations: { 'org.example.build': String(i) },
        }),
      ),
    );
    const manifestDigests = manifests.map(sha256);
    const contentType = { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' };
    record(
      await timed(
        `manifest push x${data.manifestCount}, c=8`,
        'ops/s',
        manifests.length,
        () =>
          pool(manifests.length, 8, async (i) => {
            expectStatus(await c8.call('PUT', `/v2/bench/manifests/manifests/tag-${i}`, manifests[i], contentType), 201, 'put manifest');
          }),
        true,
      ),
    );
    const accept = { Accept: 'application/vnd.oci.image.manifest.v1+json' };
    record(
      await timed('manifest GET by tag, c=32', 'req/s', data.reads, () =>
        pool(data.reads, 32, async (i) => {
          expectStatus(await c32.call('GET', `/v2/bench/manifests/manifests/tag-${i % manifests.length}`, undefined, accept), 200, 'get manifest');
        }),
      ),
    );
    record(
      await timed('manifest HEAD by digest, c=32', 'req/s', data.reads, () =>
        pool(data.reads, 32, async (i) => {
          expectStatus(await c32.call('HEAD', `/v2/bench/manifests/manifests/${manifestDigests[i % manifests.length]}`, undefined, accept), 200, 'head manifest');
        }),
      ),
    );
    const listings = Math.max(50, Math.round(data.reads / 50));
    record(
      await timed(`tags list (${data.manifestCount} tags), c=4`, 'req/s', listings, () =>
        pool(listings, 4, async () => {
          const res = expectStatus(await c8.call('GET', `/v2/bench/manifests/tags/list?n=${data.manifestCount}`), 200, 'tags list');
          const tags = (JSON.parse(res.body.toString()) as { tags: string[] }).tags;
          if (tags.length !== data.manifestCount) throw new Error(`tags list returned ${tags.length} tags`);
        }),
      ),
    );
  }
  c8.close();
  c32.close();
  return results;
}

/**
 * The machine's limits for the same blob shapes with the same client (bare-server.ts): each push
 * is one PUT of the whole blob into sha256 + file + fsync + rename, each pull one GET of the file.
 */
export async function bareWorkloads(base: string, data: BenchData, log: (m: Measurement) => void, only: Only = null, serverPid?: number): Promise<Measurement[]> {
  const client = new BenchClient(base, 8);
  const results: Measurement[] = [];
  const record = (m: Measurement | null): void => {
    if (!m) return;
    results.push(m);
    log(m);
  };
  const timed = timer(only, serverPid);
  const small = data.smallBlobs;
  const large = data.largeBlobs;
  const largeSize = large[0]!.length;
  const names = { pushLarge: workloadNames.pushLarge(largeSize / MiB, large.length), pullLarge: workloadNames.pullLarge(largeSize / MiB, large.length) };
  const hex = (digest: string): string => digest.slice('sha256:'.length);
  record(
    await timed(
      workloadNames.pushSmall,
      'MiB/s',
      small.length,
      () => pool(small.length, 8, async (i) => void expectStatus(await client.call('PUT', '/bare', small[i]), 201, 'bare put')),
      wanted(only, workloadNames.pullSmall),
    ),
  );
  record(
    await timed(
      names.pushLarge,
      'MiB/s',
      (large.length * largeSize) / MiB,
      () => pool(large.length, 2, async (i) => void expectStatus(await client.call('PUT', '/bare', large[i]), 201, 'bare put')),
      wanted(only, names.pullLarge),
    ),
  );
  record(
    await timed(workloadNames.pullSmall, 'MiB/s', small.length * 2, () =>
      pullAll(client, data.smallDigests.map((d) => `/bare/${hex(d)}`), 2, 8, MiB),
    ),
  );
  record(
    await timed(names.pullLarge, 'MiB/s', (large.length * 2 * largeSize) / MiB, () =>
      leanDownloads(base, data.largeDigests.map((d) => `/bare/${hex(d)}`), 2, 4, largeSize, {}),
    ),
  );
  client.close();
  return results;
}
