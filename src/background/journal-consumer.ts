import type { FastifyBaseLogger } from 'fastify';
import type { JournaledEvent, MetadataStore } from '../metadata/metadata-store.js';
import type { WorkQueue } from './work-queue.js';

export type JournalStore = Pick<MetadataStore, 'readJournal' | 'journalCursor' | 'saveJournalCursor' | 'journalHead'>;

/**
 * Where a consumer that has never run starts: at the beginning (what must see every change,
 * as webhooks and audit), or at the end (a trigger added to a registry with history must not
 * fire for pushes of last week).
 */
export type FirstStart = 'beginning' | 'end';

const kind = 'journal-consumer';
const batchSize = 200;
/** Held while this server consumes; another server takes over within this long of a crash. */
const leaseSeconds = 30;
const renewEveryMs = 10_000;
/**
 * The cursor is saved at most this often (and at stop): a write per pushed manifest would cost
 * the push path a quarter of its rate; a crash re-delivers at most this much (at least once).
 */
const cursorSaveMs = 1000;
/**
 * An entry whose handling fails this often in a row is skipped (and logged as an error): one
 * entry that can never be handled must not stop every later event from reaching its consumers.
 */
const maxFailuresPerEntry = 10;

/**
 * One reader of the registry's event journal, with its own cursor (webhooks and audit share one,
 * the base-image trigger has its own). Its right to read is a work item claimed with a lease, so
 * with several servers exactly one consumes at a time and another takes over when it dies.
 * Entries go to `handle` in order; the cursor moves only after an entry was handled, so a crash
 * re-delivers from the last saved point: at least once, never lost.
 */
export class JournalConsumer {
  private cursor = 0;
  private savedCursor = 0;
  private lastSave = 0;
  private holding = false;
  private itemId = 0;
  private lastRenew = 0;
  private running: Promise<void> | null = null;
  private again = false;
  private timer: NodeJS.Timeout | null = null;
  private failedSeq = 0;
  private failures = 0;
  private stopping = false;

  constructor(
    readonly name: string,
    private readonly store: JournalStore,
    private readonly queue: WorkQueue,
    private readonly owner: string,
    private readonly handle: (entry: JournaledEvent) => Promise<void>,
    private readonly log: Pick<FastifyBaseLogger, 'error' | 'info'>,
    private readonly firstStart: FirstStart = 'beginning',
  ) {}

  async start(): Promise<void> {
    this.stopping = false;
    await this.queue.ensureRecurring({ kind, key: this.name });
    // A poke can be missed only by a crash; the poll picks up what was committed meanwhile.
    this.timer = setInterval(() => this.poke(), 1000);
    this.timer.unref();
    this.poke();
  }

  /**
   * Stops after the entry in hand (a backlog is not drained: a shutdown must not wait on it), saves
   * the cursor and lets another server, or this one restarted, go on from there.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
    if (!this.holding) return;
    await this.saveCursor(true);
    await this.queue.reschedule(this.itemId, this.owner, new Date().toISOString());
    this.holding = false;
  }

  poke(): void {
    if (this.stopping) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.pumpHeld().finally(() => {
      this.running = null;
      if (this.again) {
        this.again = false;
        this.poke();
      }
    });
  }

  /** Claims or renews the lease when due, then delivers while it is held. */
  private async pumpHeld(): Promise<void> {
    try {
      if (!this.holding) {
        const item = await this.queue.claimKey(this.owner, kind, this.name, leaseSeconds);
        if (!item) return;
        this.holding = true;
        this.itemId = item.id;
        this.lastRenew = Date.now();
        // Another server may have moved the cursor while it held the lease.
        const saved = await this.store.journalCursor(this.name);
        if (saved === null) {
          this.cursor = this.firstStart === 'end' ? await this.store.journalHead() : 0;
          await this.store.saveJournalCursor(this.name, this.cursor);
        } else {
          this.cursor = saved;
        }
        this.savedCursor = this.cursor;
      } else if (Date.now() - this.lastRenew > renewEveryMs) {
        await this.saveCursor(true);
        if (!(await this.queue.renew(this.itemId, this.owner, leaseSeconds))) {
          this.holding = false;
          this.log.info({ consumer: this.name }, 'journal consumer lease lost to another server');
          return;
        }
        this.lastRenew = Date.now();
      }
      await this.pump();
    } catch (error) {
      this.log.error({ err: error, consumer: this.name }, 'journal consumer failed; will retry');
    }
  }

  private async pump(): Promise<void> {
    try {
      for (;;) {
        const batch = await this.store.readJournal(this.cursor, batchSize);
        if (batch.length === 0) break;
        for (const entry of batch) {
          if (this.stopping) return;
          await this.handleOrSkip(entry);
          this.cursor = entry.seq;
        }
        if (batch.length < batchSize) break;
      }
      // The poll comes back within a second and saves what a skipped save left behind.
      await this.saveCursor(false);
    } catch (error) {
      // Left at the failed event: the next poke or poll tries it again.
      this.log.error({ err: error, consumer: this.name }, 'handling registry events failed; will retry');
    }
  }

  private async handleOrSkip(entry: JournaledEvent): Promise<void> {
    try {
      await this.handle(entry);
      this.failures = 0;
    } catch (error) {
      this.failures = this.failedSeq === entry.seq ? this.failures + 1 : 1;
      this.failedSeq = entry.seq;
      if (this.failures < maxFailuresPerEntry) throw error;
      this.log.error({ err: error, consumer: this.name, seq: entry.seq, event: entry.name }, 'registry event skipped after repeated failures');
      this.failures = 0;
    }
  }

  private async saveCursor(force: boolean): Promise<void> {
    if (this.cursor === this.savedCursor || (!force && Date.now() - this.lastSave < cursorSaveMs)) return;
    const cursor = this.cursor;
    await this.store.saveJournalCursor(this.name, cursor);
    this.savedCursor = cursor;
    this.lastSave = Date.now();
  }
}
