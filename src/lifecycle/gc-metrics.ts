import { Counter, Gauge, type Registry } from 'prom-client';
import type { GcMetrics } from './garbage-collector.js';
import type { GcRunRecord, LifecycleStore } from './lifecycle-store.js';

/** Prometheus metrics of the collector, on the registry's /metrics. */
export function gcMetrics(registry: Registry, store: LifecycleStore): GcMetrics {
  const registers = [registry];
  const runs = new Counter({ name: 'berth_gc_runs_total', help: 'Garbage collections by trigger and dry run', labelNames: ['trigger', 'dry_run'], registers });
  const blobs = new Counter({ name: 'berth_gc_blobs_deleted_total', help: 'Blobs removed by the garbage collector', registers });
  const bytes = new Counter({ name: 'berth_gc_bytes_freed_total', help: 'Bytes removed by the garbage collector', registers });
  const uploads = new Counter({ name: 'berth_gc_uploads_deleted_total', help: 'Abandoned upload sessions removed', registers });
  const last = new Gauge({ name: 'berth_gc_last_run_duration_seconds', help: 'Duration of the last garbage collection', registers });
  new Gauge({
    name: 'berth_gc_pending_reviews',
    help: 'Blobs queued for review by the garbage collector',
    registers,
    async collect() {
      this.set(await store.pendingReviews());
    },
  });
  return {
    observeRun(run: GcRunRecord) {
      runs.inc({ trigger: run.trigger, dry_run: String(run.dryRun) });
      last.set(run.durationMs / 1000);
      if (run.dryRun) return;
      blobs.inc(run.blobsDeleted);
      bytes.inc(run.bytesFreed);
      uploads.inc(run.uploadsDeleted);
    },
  };
}
