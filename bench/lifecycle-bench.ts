import { execFile, execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { BenchClient, expectStatus, pool } from './http-client.js';
import { pushMonolithic } from './workloads.js';
import { berthCredentials, startBerthTarget } from './targets.js';

/**
 * Lifecycle figures (issue #12), Berth alone (Distribution's GC is offline, its purge absent):
 * - one garbage collection (grace 0) on a registry of 100,000 blobs of which 1% are garbage: time,
 *   the collector's memory, candidates reviewed, blobs deleted, and the files checked on disk;
 *   then the same collection with no garbage (the cost follows the garbage, not the size);
 * - a purge dry run (`POST /api/v1/purge`, filters matching every tag, untagged too) over 10,000
 *   tags on a running server with authentication on: time, tags and manifests planned, bytes.
 * The pull path with pull statistics on is measured by registry-bench.ts (Berth vs Distribution).
 */
export interface LifecycleOptions {
  gcBlobs: number;
  gcGarbageFraction: number;
  gcBlobBytes: number;
  purgeTags: number;
  purgeRepositories: number;
  purgeRepeats: number;
}

export interface GcRunFigures {
  ms: number;
  candidates: number;
  blobsDeleted: number;
  bytesFreed: number;
  pendingBefore: number;
  pendingAfter: number;
  memoryMiB: { rssBefore: number; rssPeak: number; rssDelta: number; heapBefore: number; heapPeak: number; heapDelta: number };
}

export interface LifecycleFigures {
  options: LifecycleOptions;
  gc: {
    seed: {
      blobs: number;
      manifests: number;
      repositories: number;
      blobBytes: number;
      manifestsDeleted: number;
      reviewsQueued: number;
      seconds: Record<string, number>;
      settle: { candidates: number; blobsDeleted: number; durationMs: number };
    };
    withGarbage: GcRunFigures;
    noGarbage: GcRunFigures;
    onDisk: { garbageGone: number; garbageLeft: number; keptPresent: number; keptMissing: number };
  };
  purge: {
    tags: number;
    repositories: number;
    seedSeconds: number;
    dryRunMs: { first: number; median: number; runs: number[] };
    tagsPlanned: number;
    manifestsPlanned: number;
    bytesReported: number;
    expectedBytes: number;
    serverRssMiB: { before: number; after: number };
  };
}

const run = promisify(execFile);
const worker = fileURLToPath(new URL('./lifecycle-gc-worker.js', import.meta.url));

/** Sizes from the environment (flags are read by registry-bench.ts into the same names). */
export function lifecycleOptions(quick: boolean, flag: (name: string) => string | null): LifecycleOptions {
  const value = (name: string, env: string, dflt: number, quickValue: number): number => {
    const text = flag(name) ?? process.env[env];
    const n = text === undefined || text === null ? (quick ? quickValue : dflt) : Number(text);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} / ${env}: a positive number, not ${text}`);
    return n;
  };
  return {
    gcBlobs: value('--gc-blobs', 'BENCH_GC_BLOBS', 100_000, 10_000),
    gcGarbageFraction: value('--gc-garbage', 'BENCH_GC_GARBAGE', 0.01, 0.01),
    gcBlobBytes: value('--gc-blob-bytes', 'BENCH_GC_BLOB_BYTES', 512, 512),
    purgeTags: value('--purge-tags', 'BENCH_PURGE_TAGS', 10_000, 1_000),
    purgeRepositories: value('--purge-repositories', 'BENCH_PURGE_REPOSITORIES', 1, 1),
    purgeRepeats: value('--purge-repeats', 'BENCH_PURGE_REPEATS', 5, 3),
  };
}

async function workerJson<T>(args: string[]): Promise<T> {
  const { stdout } = await run(process.execPath, ['--expose-gc', '--no-memory-reducer', worker, ...args], { maxBuffer: 64 * 1024 * 1024 });
  return JSON.parse(stdout) as T;
}

function blobFile(dataDir: string, digest: string): string {
  const hex = digest.slice('sha256:'.length);
  return join(dataDir, 'blobs', 'sha256', hex.slice(0, 2), hex);
}

async function gcFigures(o: LifecycleOptions, log: (s: string) => void): Promise<LifecycleFigures['gc']> {
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-gc-data-'));
  const workDir = mkdtempSync(join(tmpdir(), 'bench-gc-work-'));
  try {
    log(`gc: seeding ${o.gcBlobs} blobs of ${o.gcBlobBytes} bytes (10 per manifest), then deleting ${o.gcGarbageFraction * 100}% of the manifests`);
    const seed = await workerJson<LifecycleFigures['gc']['seed']>(['seed', dataDir, workDir, String(o.gcBlobs), String(o.gcGarbageFraction), String(o.gcBlobBytes)]);
    log(`gc: seeded in ${Object.entries(seed.seconds).map(([k, v]) => `${k} ${v} s`).join(', ')}; ${seed.reviewsQueued} reviews queued`);
    const garbage = readFileSync(join(workDir, 'garbage.txt'), 'utf8').split('\n').filter(Boolean);
    const kept = readFileSync(join(workDir, 'kept.txt'), 'utf8').split('\n').filter(Boolean);
    // Every file is on disk before the collection (else the check after it proves nothing).
    const missingBefore = [...garbage, ...kept].filter((d) => !existsSync(blobFile(dataDir, d))).length;
    if (missingBefore > 0) throw new Error(`gc bench: ${missingBefore} blob files missing before the collection`);
    execFileSync('sync');
    const withGarbage = await workerJson<GcRunFigures>(['gc', dataDir]);
    log(`gc: with garbage ${withGarbage.ms} ms, ${withGarbage.candidates} candidates, ${withGarbage.blobsDeleted} deleted`);
    const garbageLeft = garbage.filter((d) => existsSync(blobFile(dataDir, d))).length;
    const keptMissing = kept.filter((d) => !existsSync(blobFile(dataDir, d))).length;
    const onDisk = { garbageGone: garbage.length - garbageLeft, garbageLeft, keptPresent: kept.length - keptMissing, keptMissing };
    if (garbageLeft > 0 || keptMissing > 0 || withGarbage.blobsDeleted !== garbage.length || withGarbage.candidates !== garbage.length || withGarbage.pendingAfter !== 0) {
      throw new Error(`gc bench sanity check failed: ${JSON.stringify({ onDisk, expectedGarbage: garbage.length, run: withGarbage })}`);
    }
    execFileSync('sync');
    const noGarbage = await workerJson<GcRunFigures>(['gc', dataDir]);
    log(`gc: no garbage ${noGarbage.ms} ms, ${noGarbage.candidates} candidates`);
    if (noGarbage.candidates !== 0 || noGarbage.blobsDeleted !== 0) throw new Error(`gc bench: the second collection found ${noGarbage.candidates} candidates`);
    return { seed, withGarbage, noGarbage, onDisk };
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(workDir, { recursive: true, force: true });
  }
}

const auth = `Basic ${Buffer.from(`${berthCredentials.user}:${berthCredentials.password}`).toString('base64')}`;

function rssMiB(pid: number | undefined): number {
  const status = pid ? readFileSync(`/proc/${pid}/status`, 'utf8') : '';
  const kib = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return Math.round((kib / 1024) * 10) / 10;
}

async function purgeFigures(port: number, o: LifecycleOptions, log: (s: string) => void): Promise<LifecycleFigures['purge']> {
  const berth = await startBerthTarget(port, true);
  try {
    const client = new BenchClient(berth.url, 8, { mode: 'token', ...berthCredentials });
    const t0 = performance.now();
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
    const layer = randomBytes(1024);
    const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
    const repos = Array.from({ length: o.purgeRepositories }, (_, r) => `purge/app-${r}`);
    for (const repo of repos) {
      await pushMonolithic(client, repo, config, sha256(config));
      await pushMonolithic(client, repo, layer, sha256(layer));
    }
    const contentType = { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' };
    let manifestBytes = 0;
    // One manifest per tag (an annotation makes each unique), sharing the config and layer.
    await pool(o.purgeTags, 8, async (i) => {
      const body = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
          layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(layer), size: layer.length }],
          annotations: { 'org.example.build': String(i) },
        }),
      );
      manifestBytes += body.length;
      expectStatus(await client.call('PUT', `/v2/${repos[i % repos.length]}/manifests/build-${i}`, body, contentType), 201, 'put manifest');
    });
    client.close();
    const seedSeconds = Math.round(performance.now() - t0) / 1000;
    // Tags are "older than" a cutoff of now only once the clock moved past their push.
    await new Promise((r) => setTimeout(r, 20));
    log(`purge: ${o.purgeTags} tags in ${repos.length} repositor${repos.length === 1 ? 'y' : 'ies'} pushed in ${seedSeconds} s`);
    const rssBefore = rssMiB(berth.pid);
    const runs: number[] = [];
    type Answer = { deletedTags: number; deletedManifests: number; bytesFreed: number; dryRun: boolean };
    let result = null as Answer | null;
    for (let i = 0; i < o.purgeRepeats; i++) {
      execFileSync('sync');
      const start = performance.now();
      const res = await fetch(`${berth.url}/api/v1/purge`, {
        method: 'POST',
        headers: { Authorization: auth, 'Content-Type': 'application/json' },
        body: JSON.stringify({ filters: ['purge/.*:.*'], ago: '0d', untagged: true, dryRun: true }),
      });
      const text = await res.text();
      runs.push(Math.round((performance.now() - start) * 10) / 10);
      if (!res.ok) throw new Error(`purge dry run: ${res.status} ${text.slice(0, 300)}`);
      result = JSON.parse(text) as Answer;
    }
    const rssAfter = rssMiB(berth.pid);
    const expectedBytes = manifestBytes + config.length + layer.length;
    if (!result || !result.dryRun || result.deletedTags !== o.purgeTags || result.deletedManifests !== o.purgeTags || result.bytesFreed !== expectedBytes) {
      throw new Error(`purge bench sanity check failed: ${JSON.stringify({ ...result, repositories: undefined, expectedTags: o.purgeTags, expectedBytes })}`);
    }
    const sorted = [...runs].sort((a, b) => a - b);
    const median = sorted.length % 2 ? sorted[sorted.length >> 1]! : (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2;
    return {
      tags: o.purgeTags,
      repositories: repos.length,
      seedSeconds,
      dryRunMs: { first: runs[0]!, median, runs },
      tagsPlanned: result.deletedTags,
      manifestsPlanned: result.deletedManifests,
      bytesReported: result.bytesFreed,
      expectedBytes,
      serverRssMiB: { before: rssBefore, after: rssAfter },
    };
  } finally {
    await berth.stop();
  }
}

export async function lifecycleBench(port: number, options: LifecycleOptions, log: (s: string) => void): Promise<LifecycleFigures> {
  return { options, gc: await gcFigures(options, log), purge: await purgeFigures(port, options, log) };
}

export function printLifecycle(f: LifecycleFigures): void {
  const g = f.gc;
  const m = (r: GcRunFigures) => `RSS ${r.memoryMiB.rssBefore} -> peak ${r.memoryMiB.rssPeak} MiB (+${r.memoryMiB.rssDelta}), heap +${r.memoryMiB.heapDelta} MiB`;
  console.log(`\nlifecycle (Berth only)`);
  console.log(`  gc, ${g.seed.blobs} blobs (${g.seed.manifests} manifests, ${g.seed.blobBytes} B each), ${g.seed.manifestsDeleted} manifests deleted -> ${g.seed.reviewsQueued} garbage blobs:`);
  console.log(`    with garbage: ${g.withGarbage.ms} ms, ${g.withGarbage.candidates} candidates, ${g.withGarbage.blobsDeleted} blobs deleted (${g.withGarbage.bytesFreed} B); ${m(g.withGarbage)}`);
  console.log(`    on disk: ${g.onDisk.garbageGone} garbage files gone, ${g.onDisk.garbageLeft} left; ${g.onDisk.keptPresent} kept present, ${g.onDisk.keptMissing} missing`);
  console.log(`    no garbage:   ${g.noGarbage.ms} ms, ${g.noGarbage.candidates} candidates; ${m(g.noGarbage)}`);
  console.log(`    (seeding: first collection over the ${g.seed.settle.candidates} reviews the pushes queued: ${g.seed.settle.durationMs} ms)`);
  const p = f.purge;
  console.log(`  purge dry run, ${p.tags} tags in ${p.repositories} repositor${p.repositories === 1 ? 'y' : 'ies'} (filters match all, untagged): median ${p.dryRunMs.median} ms, first ${p.dryRunMs.first} ms (runs ${p.dryRunMs.runs.join(', ')})`);
  console.log(`    planned ${p.tagsPlanned} tags, ${p.manifestsPlanned} manifests, ${p.bytesReported} bytes reported; server RSS ${p.serverRssMiB.before} -> ${p.serverRssMiB.after} MiB`);
}
