import type { AuditEvent, AuditQuery, AuthStore } from '../auth/auth-store.js';

export interface AuditContext {
  actor: string;
  client: string | null;
}

/**
 * Who did what, when, from where: logins, failed logins, permission changes and content changes.
 * Records are written in batches (one transaction per flush) because every push records one.
 */
export class AuditLog {
  private pending: Array<{ event: AuditEvent; done: () => void }> = [];
  /** Records the store refused (a full disk), kept to be written once it takes them again. */
  private retained: AuditEvent[] = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly store: AuthStore,
    private readonly flushDelayMs = 50,
    private readonly onStoreError: (error: unknown, retained: number) => void = () => undefined,
    private readonly retryMs = 5000,
  ) {}

  /**
   * Resolves once the record is stored or, when the store fails, retained for a later flush: a
   * login or a pull must keep working while the disk is full, though its audit waits.
   */
  record(context: AuditContext, kind: string, target: string | null, detail: Record<string, unknown> | null = null): Promise<void> {
    const event: AuditEvent = { at: new Date().toISOString(), kind, actor: context.actor, client: context.client, target, detail };
    return new Promise((done) => {
      this.pending.push({ event, done });
      this.timer ??= setTimeout(() => void this.flush(), this.flushDelayMs);
    });
  }

  async query(query: AuditQuery): Promise<AuditEvent[]> {
    await this.flush(); // a query sees everything recorded before it
    return this.store.queryAudit(query);
  }

  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const batch = this.pending;
    this.pending = [];
    const events = [...this.retained, ...batch.map((b) => b.event)];
    if (events.length === 0) return;
    try {
      await this.store.appendAudit(events);
      this.retained = [];
    } catch (error) {
      // Bounded, so a long outage costs memory only up to a point; the oldest go first.
      this.retained = events.slice(-maxRetainedEvents);
      this.onStoreError(error, this.retained.length);
      this.timer ??= setTimeout(() => void this.flush(), this.retryMs);
      this.timer.unref();
    }
    for (const b of batch) b.done();
  }
}

const maxRetainedEvents = 10_000;
