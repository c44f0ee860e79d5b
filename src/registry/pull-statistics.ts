import type { PullTally, RepositoryMetadataStore } from '../metadata/repository-metadata-store.js';

export interface PullStatisticsOptions {
  /** Flush this long after the first pull counted since the last flush. */
  flushAfterMs: number;
  /** Flush at once when this many distinct tags and manifests are pending. */
  maxPending: number;
  onError: (error: unknown) => void;
}

/**
 * 2 s: listings show a pull within seconds. 10,000 pending (a few MB) bounds memory only; each
 * flush writes one row per distinct tag and manifest, so a pull of many tags (a CI fleet, the
 * benchmark's 2,000) should not flush every few hundred pulls.
 */
export const defaultPullStatisticsOptions: Omit<PullStatisticsOptions, 'onError'> = { flushAfterMs: 2000, maxPending: 10_000 };

/**
 * Counts pulls in memory and writes them in batches, one transaction per flush, so a pull costs
 * a map update and never a database write. The flush is triggered by the counter itself (a timer
 * started by the first pending pull, or the pending count) and once more at close, rather than by
 * the work queue: the tallies live only in this process's memory, so a durable, claimable work
 * item could not carry them, and a recurring job would poll the database when nothing is pulled.
 * A crash loses at most one interval's counts, which statistics can afford.
 */
/** A tally as counted: the time as a number, turned into text once per flush, not per pull. */
interface PendingTally extends Omit<PullTally, 'lastPulledAt'> {
  lastPulledMs: number;
}

export class PullStatistics {
  private pending = new Map<string, PendingTally>();
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: RepositoryMetadataStore,
    private readonly options: PullStatisticsOptions,
  ) {}

  /** A pull of `tag` (when by tag) and of the manifest `digest` (when `manifest`). */
  record(repository: string, digest: string, tag: string | null, manifest: boolean): void {
    const at = Date.now();
    if (tag !== null) this.count(repository, 'tag', tag, at);
    if (manifest) this.count(repository, 'manifest', digest, at);
    if (this.pending.size >= this.options.maxPending) void this.flush();
    else if (this.timer === null && this.pending.size > 0) {
      this.timer = setTimeout(() => void this.flush(), this.options.flushAfterMs);
      this.timer.unref();
    }
  }

  private count(repository: string, kind: PullTally['kind'], key: string, at: number): void {
    const id = `${kind}\u0000${repository}\u0000${key}`;
    const tally = this.pending.get(id);
    if (tally) {
      tally.count += 1;
      tally.lastPulledMs = at;
    } else this.pending.set(id, { repository, kind, key, count: 1, lastPulledMs: at });
  }

  /** Writes what is pending; flushes run one after another. */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const batch = [...this.pending.values()].map(({ lastPulledMs, ...tally }) => ({ ...tally, lastPulledAt: new Date(lastPulledMs).toISOString() }));
    this.pending = new Map();
    this.flushing = this.flushing.then(async () => {
      if (batch.length === 0) return;
      try {
        await this.store.recordPulls(batch);
      } catch (error) {
        this.options.onError(error);
      }
    });
    return this.flushing;
  }

  /** At shutdown, before the store closes. */
  close(): Promise<void> {
    return this.flush();
  }
}
