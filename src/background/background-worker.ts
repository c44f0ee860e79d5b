import type { FastifyBaseLogger } from 'fastify';
import type { WorkItem, WorkQueue } from './work-queue.js';

/** What a handler may do while it holds its item. */
export interface WorkContext {
  /** Extends the lease (long work); false when the item was lost to another worker. */
  renew(payload?: unknown): Promise<boolean>;
  signal: AbortSignal;
}

/**
 * What a recurring handler returns: when the item is next due, and its new state. A one-shot
 * handler returns nothing (the item is removed).
 */
export interface Reschedule {
  runAt: Date;
  payload?: unknown;
}

export interface WorkHandler {
  kind: string;
  leaseSeconds: number;
  handle(item: WorkItem, context: WorkContext): Promise<Reschedule | void>;
  /** Delay before the next attempt after `attempts` failures; default: exponential, 5 s to 15 min. */
  retryDelayMs?(attempts: number, error: unknown): number;
  /** A one-shot item is dropped (and the failure logged) after this many failed attempts; default: never. */
  maxAttempts?: number;
}

/** Handlers that said "later" by throwing this get their own due time (e.g. a registry's Retry-After), not the default back-off. */
export class RetryLater extends Error {
  constructor(
    message: string,
    readonly runAt: Date,
    readonly payload?: unknown,
  ) {
    super(message);
  }
}

const defaultRetryDelayMs = (attempts: number): number => Math.min(15 * 60_000, 5000 * 2 ** Math.min(attempts, 10));

/**
 * Runs the handlers of the work queue's items in this process: claims what is due, up to
 * `concurrency` at a time, whenever it is poked (something was enqueued here) and on a short
 * poll (something became due, or was enqueued by another server).
 */
export class BackgroundWorker {
  private readonly handlers = new Map<string, WorkHandler>();
  private readonly active = new Set<Promise<void>>();
  private readonly abort = new AbortController();
  private timer: NodeJS.Timeout | null = null;
  private pumping = false;
  private again = false;
  private stopped = true;

  constructor(
    private readonly queue: WorkQueue,
    private readonly owner: string,
    private readonly log: Pick<FastifyBaseLogger, 'error' | 'warn' | 'debug'>,
    private readonly options: { concurrency: number; pollMs: number } = { concurrency: 4, pollMs: 1000 },
  ) {}

  register(handler: WorkHandler): void {
    this.handlers.set(handler.kind, handler);
  }

  start(): void {
    this.stopped = false;
    this.timer = setInterval(() => this.poke(), this.options.pollMs);
    this.timer.unref();
    this.poke();
  }

  /** Stops claiming, asks running handlers to stop, waits for them; their leases are released or run out. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.abort.abort();
    await Promise.allSettled([...this.active]);
  }

  poke(): void {
    if (this.stopped) return;
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    void this.pump().finally(() => {
      this.pumping = false;
      if (this.again) {
        this.again = false;
        this.poke();
      }
    });
  }

  private async pump(): Promise<void> {
    const kinds = [...this.handlers.keys()];
    try {
      while (!this.stopped && this.active.size < this.options.concurrency) {
        // Leases differ per kind; the claim takes the longest and the handler's own renew narrows nothing.
        const item = await this.queue.claimDue(this.owner, kinds, Math.max(...[...this.handlers.values()].map((h) => h.leaseSeconds)));
        if (!item) break;
        const done = this.run(item).finally(() => {
          this.active.delete(done);
          // A slot is free: there may be more due work.
          this.poke();
        });
        this.active.add(done);
      }
    } catch (error) {
      this.log.error({ err: error }, 'claiming background work failed; will retry');
    }
  }

  private async run(item: WorkItem): Promise<void> {
    const handler = this.handlers.get(item.kind)!;
    const context: WorkContext = {
      renew: (payload) => this.queue.renew(item.id, this.owner, handler.leaseSeconds, payload),
      signal: this.abort.signal,
    };
    try {
      const next = await handler.handle(item, context);
      if (item.recurring) {
        const runAt = next?.runAt ?? new Date(Date.now() + 60_000);
        await this.queue.reschedule(item.id, this.owner, runAt.toISOString(), next?.payload);
      } else {
        await this.queue.complete(item.id, this.owner);
      }
    } catch (error) {
      if (!item.recurring && handler.maxAttempts !== undefined && item.attempts + 1 >= handler.maxAttempts) {
        this.log.error({ err: error, kind: item.kind, key: item.key, attempts: item.attempts + 1 }, 'background work failed too often; dropped');
        await this.queue.complete(item.id, this.owner).catch(() => undefined);
        return;
      }
      const runAt = error instanceof RetryLater ? error.runAt : new Date(Date.now() + (handler.retryDelayMs ?? defaultRetryDelayMs)(item.attempts + 1, error));
      const payload = error instanceof RetryLater ? error.payload : undefined;
      if (!(error instanceof RetryLater)) this.log.warn({ err: error, kind: item.kind, key: item.key, attempts: item.attempts + 1 }, 'background work failed; will retry');
      await this.queue.fail(item.id, this.owner, runAt.toISOString(), error instanceof Error ? error.message : String(error), payload).catch((e: unknown) => {
        this.log.error({ err: e }, 'recording a background failure failed; the lease will run out');
      });
    }
  }
}
