import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { BenchClient, expectStatus, pool } from './http-client.js';

export interface Measurement {
  workload: string;
  unit: string;
  value: number;
  seconds: number;
}

export interface BenchData {
  smallBlobs: Buffer[];
  smallDigests: string[];
  largeBlobs: Array<{ make: () => Buffer; digest: string; size: number }>;
  manifestCount: number;
  reads: number;
}

const MiB = 1024 * 1024;
const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export function makeBenchData(options: { smallCount: number; largeCount: number; largeSize: number; manifestCount: number; reads: number }): BenchData {
  const smallBlobs = Array.from({ length: options.smallCount }, () => randomBytes(MiB));
  const base = randomBytes(options.largeSize);
  const largeBlobs = Array.from({ length: options.largeCount }, (_, i) => {
    const make = (): Buffer => {
      base.writeUInt32BE(i, 0);
      return base;
    };
    return { make, digest: sha256(make()), size: options.largeSize };
  });
  return { smallBlobs, smallDigests: smallBlobs.map(sha256), largeBlobs, manifestCount: options.manifestCount, reads: options.reads };
}

function withDigest(location: string, digest: string): string {
  return `${location}${location.includes('?') ? '&' : '?'}digest=${encodeURIComponent(digest)}`;
}

async function timedRun(workload: string, unit: string, amount: number, work: () => Promise<void>): Promise<Measurement> {
  // Flush dirty pages first (untimed), so a target never pays for the previous target's writes.
  execFileSync('sync');
  const start = process.hrtime.bigint();
  await work();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return { workload, unit, value: amount / seconds, seconds };
}

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

/** The registry workloads, run identically against each target. */
export async function registryWorkloads(base: string, data: BenchData, log: (m: Measurement) => void, only: string | null = null): Promise<Measurement[]> {
  const results: Measurement[] = [];
  const record = (m: Measurement): void => {
    results.push(m);
    log(m);
  };
  const timed = (workload: string, unit: string, amount: number, work: () => Promise<void>) =>
    only && !workload.includes(only) ? Promise.resolve({ workload, unit, value: NaN, seconds: 0 }) : timedRun(workload, unit, amount, work);
  const c8 = new BenchClient(base, 8);
  const c32 = new BenchClient(base, 32);
  const small = data.smallBlobs;

  record(
    await timed('blob push 1 MiB, monolithic, c=8', 'MiB/s', small.length, () =>
      pool(small.length, 8, (i) => pushMonolithic(c8, 'bench/small', small[i]!, data.smallDigests[i]!)),
    ),
  );
  const largeMiB = data.largeBlobs.reduce((n, b) => n + b.size / MiB, 0);
  record(
    await timed('blob push 256 MiB in 8 MiB chunks', 'MiB/s', largeMiB, async () => {
      for (const blob of data.largeBlobs) await pushChunked(c8, 'bench/large', blob.make(), blob.digest, 8 * MiB);
    }),
  );
  record(
    await timed('blob pull 1 MiB, c=8', 'MiB/s', small.length * 2, () =>
      pool(small.length * 2, 8, async (i) => {
        const res = await c8.call('GET', `/v2/bench/small/blobs/${data.smallDigests[i % small.length]}`, undefined, {}, true);
        expectStatus(res, 200, 'get blob');
      }),
    ),
  );

  // One config and layer shared by every manifest; an annotation makes each digest unique.
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
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
    await timed(`manifest push x${data.manifestCount}, c=8`, 'ops/s', manifests.length, () =>
      pool(manifests.length, 8, async (i) => {
        expectStatus(await c8.call('PUT', `/v2/bench/manifests/manifests/tag-${i}`, manifests[i], contentType), 201, 'put manifest');
      }),
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
  c8.close();
  c32.close();
  return results;
}

/** The bare limit: the same blob bytes, one PUT each, into node:http + sha256 + file. */
export async function bareWorkloads(base: string, data: BenchData, log: (m: Measurement) => void, only: string | null = null): Promise<Measurement[]> {
  const client = new BenchClient(base, 8);
  const results: Measurement[] = [];
  const timed = (workload: string, unit: string, amount: number, work: () => Promise<void>) =>
    only && !workload.includes(only) ? Promise.resolve({ workload, unit, value: NaN, seconds: 0 }) : timedRun(workload, unit, amount, work);
  const small = data.smallBlobs;
  const m1 = await timed('blob push 1 MiB, monolithic, c=8', 'MiB/s', small.length, () =>
    pool(small.length, 8, async (i) => {
      expectStatus(await client.call('PUT', `/bare`, small[i]), 201, 'bare put');
    }),
  );
  log(m1);
  results.push(m1);
  const largeMiB = data.largeBlobs.reduce((n, b) => n + b.size / MiB, 0);
  const m2 = await timed('blob push 256 MiB in 8 MiB chunks', 'MiB/s', largeMiB, async () => {
    for (const blob of data.largeBlobs) expectStatus(await client.call('PUT', '/bare', blob.make()), 201, 'bare put');
  });
  log(m2);
  results.push(m2);
  client.close();
  return results;
}
