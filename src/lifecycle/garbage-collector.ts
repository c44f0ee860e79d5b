import type { FastifyBaseLogger } from 'fastify';
import type { WorkHandler } from '../background/background-worker.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { MetadataStore } from '../metadata/metadata-store.js';
import type { GcRunRecord, LifecycleStore } from './lifecycle-store.js';

export const gcKind = 'garbage-collection';

export interface GcSettings {
  /** A blob untouched for less than this is never removed (the time a push may take between HEAD and manifest). */
  graceSeconds: number;
  /** Upload sessions idle for longer than this are abandoned: removed. */
  uploadMaxAgeSeconds: number;
  /** The schedule: a collection this often. */
  intervalSeconds: number;
}

export interface GcMetrics {
  observeRun(run: GcRunRecord): void;
}

const batch = 200;
const leaseSeconds = 120;

/**
 * Online garbage collection over the review queue: only blobs whose manifest was deleted, whose
 * link was removed or that were uploaded are looked at (the cost follows the garbage), each
 * after the grace period, each claimed by one collector, and each removed in a transaction that
 * re-checks that nothing references it and that nothing touched it since the claim.
 */
export class GarbageCollector {
  constructor(
    private readonly store: LifecycleStore,
    private readonly metadata: MetadataStore,
    private readonly blobs: BlobStore,
    private readonly settings: GcSettings,
    private readonly owner: string,
    private readonly metrics: GcMetrics,
  ) {}

  async run(trigger: string, dryRun: boolean, signal?: AbortSignal): Promise<GcRunRecord> {
    const started = Date.now();
    let candidates = 0;
    let blobsDeleted = 0;
    let bytesFreed = 0;
    let uploadsDeleted = 0;
    if (dryRun) {
      for (const candidate of await this.store.dueReviews(this.settings.graceSeconds, 100_000)) {
        candidates++;
        if (!(await this.store.isReferenced(candidate.digest)) && candidate.size !== null) {
          blobsDeleted++;
          bytesFreed += candidate.size;
        }
      }
      uploadsDeleted = (await this.store.staleUploads(this.uploadCutoff(), 100_000)).length;
    } else {
      for (;;) {
        if (signal?.aborted) break;
        const claimed = await this.store.claimReviews(this.owner, this.settings.graceSeconds, leaseSeconds, batch);
        if (claimed.length === 0) break;
        for (const candidate of claimed) {
          candidates++;
          try {
            const outcome = await this.store.sweep(this.owner, candidate, () => this.blobs.delete(candidate.digest));
            if (outcome === 'deleted') {
              blobsDeleted++;
              bytesFreed += candidate.size ?? 0;
            }
          } catch (error) {
            await this.store.release(this.owner, candidate.digest);
            throw error;
          }
        }
      }
      for (const upload of await this.store.staleUploads(this.uploadCutoff(), 10_000)) {
        await this.blobs.deleteUpload(upload.id);
        await this.metadata.deleteUpload(upload.id);
        uploadsDeleted++;
      }
    }
    const finished = Date.now();
    const run = await this.store.recordGcRun({
      startedAt: new Date(started).toISOString(),
      finishedAt: new Date(finished).toISOString(),
      trigger,
      dryRun,
      candidates,
      blobsDeleted,
      bytesFreed,
      uploadsDeleted,
      durationMs: finished - started,
    });
    this.metrics.observeRun(run);
    return run;
  }

  private uploadCutoff(): string {
    return new Date(Date.now() - this.settings.uploadMaxAgeSeconds * 1000).toISOString();
  }
}

/** The collector's schedule: a recurring work item, so one server runs each collection. */
export function gcHandler(collector: GarbageCollector, settings: GcSettings, log: FastifyBaseLogger): WorkHandler {
  return {
    kind: gcKind,
    leaseSeconds: 3600,
    async handle(_item, context) {
      const run = await collector.run('schedule', false, context.signal);
      if (run.blobsDeleted > 0 || run.uploadsDeleted > 0) log.info({ blobs: run.blobsDeleted, bytesFreed: run.bytesFreed, uploads: run.uploadsDeleted, ms: run.durationMs }, 'garbage collected');
      return { runAt: new Date(Date.now() + settings.intervalSeconds * 1000) };
    },
  };
}
