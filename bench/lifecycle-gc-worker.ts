import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RegistryEvents } from '../src/events/registry-events.js';
import { GarbageCollector } from '../src/lifecycle/garbage-collector.js';
import { openSqliteDatabase } from '../src/metadata/sql/sqlite.js';
import { SqlLifecycleStore } from '../src/metadata/sql/sql-lifecycle-store.js';
import { SqlMetadataStore } from '../src/metadata/sql/sql-metadata-store.js';
import { ManifestService } from '../src/registry/manifest-service.js';
import { FilesystemBlobStore } from '../src/storage/filesystem/fs-blob-store.js';
import { pool } from './http-client.js';

/**
 * The garbage-collection figures' worker, one process per phase (so a phase's memory is its own):
 *
 *   node lifecycle-gc-worker.js seed DATA_DIR WORK_DIR BLOBS GARBAGE_FRACTION BLOB_BYTES
 *   node lifecycle-gc-worker.js gc DATA_DIR
 *
 * `seed` builds a Berth data directory with Berth's own stores (the same classes the server
 * composes: SQLite metadata, filesystem blobs): BLOBS blobs referenced by manifests of 10 blobs
 * each (1 config, 9 layers, none shared), in 10 repositories. The blob files are written directly
 * and synced once (bench data, not the push path), links through `MetadataStore.linkBlob`,
 * manifests through `ManifestService.put`. A first collection reviews the links that seeding queued
 * (every linked blob gets a review, as after real pushes) so the queue starts empty, as on a
 * registry whose collector has run; then GARBAGE_FRACTION of the manifests are deleted through
 * `ManifestService.delete` (the registry's delete path, which queues their blobs for review).
 * WORK_DIR gets garbage.txt and kept.txt (the digests that must go and stay).
 *
 * `gc` runs one collection (grace 0, the real GarbageCollector) in a fresh process and prints
 * its record with the time and the process's memory around it as JSON on stdout.
 */
const [phase, dataDir] = [process.argv[2], process.argv[3]!];
const blobsPerManifest = 10;
const repositories = 10;

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const noMetrics = { observeRun: () => undefined };

async function open() {
  const blobStore = new FilesystemBlobStore(dataDir);
  await blobStore.init();
  const db = await openSqliteDatabase(join(dataDir, 'metadata.db'));
  const metadata = new SqlMetadataStore(db);
  const lifecycle = new SqlLifecycleStore(db);
  const collector = new GarbageCollector(lifecycle, metadata, blobStore, { graceSeconds: 0, uploadMaxAgeSeconds: 7 * 86_400, intervalSeconds: 3600 }, `bench-${process.pid}`, noMetrics);
  return { blobStore, metadata, lifecycle, collector };
}

async function seed(workDir: string, blobCount: number, garbageFraction: number, blobBytes: number): Promise<void> {
  const { blobStore, metadata, lifecycle, collector } = await open();
  const manifests = new ManifestService(blobStore, metadata, new RegistryEvents());
  const manifestCount = Math.ceil(blobCount / blobsPerManifest);
  const t0 = performance.now();
  // Blob contents: a config per manifest (JSON, read for the platform) and 9 random layers.
  const images = Array.from({ length: manifestCount }, (_, i) => {
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, created: new Date(0).toISOString(), 'org.example.image': i }));
    const layers = Array.from({ length: blobsPerManifest - 1 }, () => randomBytes(blobBytes));
    return { repository: `gc/app-${i % repositories}`, config, configDigest: sha256(config), layers, layerDigests: layers.map(sha256) };
  });
  const files = images.flatMap((m) => [
    { digest: m.configDigest, data: m.config, repository: m.repository },
    ...m.layers.map((data, j) => ({ digest: m.layerDigests[j]!, data, repository: m.repository })),
  ]);
  const dirs = new Set<string>();
  const pathOf = (digest: string): string => {
    const hex = digest.slice('sha256:'.length);
    const dir = join(dataDir, 'blobs', 'sha256', hex.slice(0, 2));
    if (!dirs.has(dir)) {
      mkdirSync(dir, { recursive: true });
      dirs.add(dir);
    }
    return join(dir, hex);
  };
  await pool(files.length, 32, async (i) => writeFile(pathOf(files[i]!.digest), files[i]!.data));
  const tFiles = performance.now();
  for (const f of files) await metadata.linkBlob(f.repository, f.digest, f.data.length);
  const tLinks = performance.now();
  const contentType = 'application/vnd.oci.image.manifest.v1+json';
  const manifestDigests: string[] = [];
  for (const [i, m] of images.entries()) {
    const body = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: contentType,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: m.configDigest, size: m.config.length },
        layers: m.layers.map((l, j) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: m.layerDigests[j], size: l.length })),
      }),
    );
    manifestDigests.push((await manifests.put(m.repository, `v${i}`, body, contentType)).digest);
  }
  const tManifests = performance.now();
  // The links' reviews (all referenced): what the first scheduled collection after the pushes does.
  const settle = await collector.run('bench-settle', false);
  const tSettle = performance.now();
  if ((await lifecycle.pendingReviews()) !== 0) throw new Error(`review queue not empty after the settling collection: ${await lifecycle.pendingReviews()}`);

  const step = Math.round(1 / garbageFraction);
  const doomed = images.flatMap((m, i) => (i % step === 0 ? [i] : []));
  const doomedSet = new Set(doomed);
  for (const i of doomed) await manifests.delete(images[i]!.repository, manifestDigests[i]!);
  const tDelete = performance.now();
  const pending = await lifecycle.pendingReviews();
  const garbage = doomed.flatMap((i) => [images[i]!.configDigest, ...images[i]!.layerDigests]);
  if (pending !== garbage.length) throw new Error(`deleting ${doomed.length} manifests queued ${pending} reviews, expected ${garbage.length}`);
  const kept = images.flatMap((m, i) => (doomedSet.has(i) ? [] : [m.configDigest, ...m.layerDigests]));
  writeFileSync(join(workDir, 'garbage.txt'), garbage.join('\n'));
  writeFileSync(join(workDir, 'kept.txt'), kept.join('\n'));
  await metadata.close();
  const s = (a: number, b: number) => Math.round(b - a) / 1000;
  process.stdout.write(
    JSON.stringify({
      blobs: files.length,
      manifests: manifestCount,
      repositories,
      blobBytes,
      manifestsDeleted: doomed.length,
      reviewsQueued: pending,
      seconds: { files: s(t0, tFiles), links: s(tFiles, tLinks), manifests: s(tLinks, tManifests), settle: s(tManifests, tSettle), deletes: s(tSettle, tDelete) },
      settle: { candidates: settle.candidates, blobsDeleted: settle.blobsDeleted, durationMs: settle.durationMs },
    }),
  );
}

async function gc(): Promise<void> {
  const { metadata, lifecycle, collector } = await open();
  const pendingBefore = await lifecycle.pendingReviews();
  // One query first, so lazy start-up (statement caches, the database's pages) is not counted.
  await lifecycle.dueReviews(0, 1);
  (globalThis as { gc?: () => void }).gc?.();
  const before = process.memoryUsage();
  let peakRss = before.rss;
  let peakHeap = before.heapUsed;
  const sample = () => {
    const m = process.memoryUsage();
    peakRss = Math.max(peakRss, m.rss);
    peakHeap = Math.max(peakHeap, m.heapUsed);
  };
  const sampler = setInterval(sample, 5);
  const start = process.hrtime.bigint();
  const run = await collector.run('bench', false);
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  clearInterval(sampler);
  sample();
  const MiB = 1024 * 1024;
  const r = (n: number) => Math.round((n / MiB) * 10) / 10;
  // ru_maxrss is in KiB on Linux: the process's peak, start-up included.
  const maxRss = process.resourceUsage().maxRSS * 1024;
  const pendingAfter = await lifecycle.pendingReviews();
  await metadata.close();
  process.stdout.write(
    JSON.stringify({
      ms: Math.round(ms * 10) / 10,
      candidates: run.candidates,
      blobsDeleted: run.blobsDeleted,
      bytesFreed: run.bytesFreed,
      pendingBefore,
      pendingAfter,
      memoryMiB: { rssBefore: r(before.rss), rssPeak: r(Math.max(peakRss, maxRss)), rssDelta: r(Math.max(peakRss, maxRss) - before.rss), heapBefore: r(before.heapUsed), heapPeak: r(peakHeap), heapDelta: r(peakHeap - before.heapUsed) },
    }),
  );
}

(phase === 'seed' ? seed(process.argv[4]!, Number(process.argv[5]), Number(process.argv[6]), Number(process.argv[7])) : phase === 'gc' ? gc() : Promise.reject(new Error(`phase: seed or gc, not ${phase}`))).catch(
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
