import type { FastifyBaseLogger } from 'fastify';
import type { MetadataStore } from '../metadata/metadata-store.js';
import type { RegistryEvents } from './registry-events.js';

type JournalStore = Pick<MetadataStore, 'readJournal' | 'journalCursor' | 'saveJournalCursor' | 'pruneJournal'>;

const consumer = 'registry-events';
const batchSize = 200;
/**
 * The cursor is saved at most this often (and at stop): a write per pushed manifest would cost
 * the push path a quarter of its rate; a crash re-delivers at most this much (at least once).
 */
const cursorSaveMs = 1000;
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
  private savedCursor = 0;
  private lastSave = 0;

  constructor(
    private readonly store: JournalStore,
    private readonly events: RegistryEvents,
    private readonly log: Pick<FastifyBaseLogger, 'error' | 'info'>,
  ) {
    events.onCommitted(() => this.poke());
  }

  async start(): Promise<void> {
    this.cursor = await this.store.journalCursor(consumer);
    this.savedCursor = this.cursor;
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
    await this.saveCursor(true);
  }

  private async saveCursor(force: boolean): Promise<void> {
    if (this.cursor === this.savedCursor || (!force && Date.now() - this.lastSave < cursorSaveMs)) return;
    const cursor = this.cursor;
    await this.store.saveJournalCursor(consumer, cursor);
    this.savedCursor = cursor;
    this.lastSave = Date.now();
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
        for (const entry of batch) {
          await this.events.deliver(entry.name, entry.payload);
          this.cursor = entry.seq;
        }
        if (batch.length < batchSize) break;
      }
      // The poll comes back within a second and saves what a skipped save left behind.
      await this.saveCursor(false);
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
