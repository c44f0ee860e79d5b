import type { FastifyBaseLogger } from 'fastify';
import type { MetadataStore } from '../metadata/metadata-store.js';
import type { RegistryEvents } from './registry-events.js';

type JournalStore = Pick<MetadataStore, 'readJournal' | 'journalCursor' | 'saveJournalCursor' | 'pruneJournal'>;

const consumer = 'registry-events';
const batchSize = 200;
/** Delivered entries are kept this long (for inspection), then pruned. */
const keepMs = 7 * 86_400_000;

/**
 * Reads the registry's event journal from a saved cursor and hands each event to the in-process
 * listeners (webhooks, audit; later triggers), in order. The cursor moves only after an event's
 * listeners are done, so a crash re-delivers from the last saved point: at least once, never lost.
 */
export class EventRelay {
  private cursor = 0;
  private running: Promise<void> | null = null;
  private again = false;
  private timer: NodeJS.Timeout | null = null;
  private lastPrune = 0;

  constructor(
    private readonly store: JournalStore,
    private readonly events: RegistryEvents,
    private readonly log: Pick<FastifyBaseLogger, 'error' | 'info'>,
  ) {
    events.onCommitted(() => this.poke());
  }

  async start(): Promise<void> {
    this.cursor = await this.store.journalCursor(consumer);
    // A poke can be missed only by a crash; the poll picks up what was committed meanwhile.
    this.timer = setInterval(() => this.poke(), 1000);
    this.timer.unref();
    this.poke();
  }

  /** Stops polling after delivering what has committed so far. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
    await this.pump();
  }

  poke(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.pump().finally(() => {
      this.running = null;
      if (this.again) {
        this.again = false;
        this.poke();
      }
    });
  }

  private async pump(): Promise<void> {
    try {
      for (;;) {
        const batch = await this.store.readJournal(this.cursor, batchSize);
        if (batch.length === 0) break;
        try {
          for (const entry of batch) {
            await this.events.deliver(entry.name, entry.payload);
            this.cursor = entry.seq;
          }
        } finally {
          await this.store.saveJournalCursor(consumer, this.cursor);
        }
        if (batch.length < batchSize) break;
      }
      if (Date.now() - this.lastPrune > 3_600_000) {
        this.lastPrune = Date.now();
        const pruned = await this.store.pruneJournal(this.cursor, new Date(Date.now() - keepMs).toISOString());
        if (pruned > 0) this.log.info({ pruned }, 'pruned delivered registry events');
      }
    } catch (error) {
      // Left at the failed event: the next poke or poll tries it again.
      this.log.error({ err: error }, 'delivering registry events failed; will retry');
    }
  }
}
