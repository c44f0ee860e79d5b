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
  private pending: Array<{ event: AuditEvent; done: () => void; failed: (error: unknown) => void }> = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly store: AuthStore,
    private readonly flushDelayMs = 50,
  ) {}

  /** Resolves once the record is stored. */
  record(context: AuditContext, kind: string, target: string | null, detail: Record<string, unknown> | null = null): Promise<void> {
    const event: AuditEvent = { at: new Date().toISOString(), kind, actor: context.actor, client: context.client, target, detail };
    return new Promise((done, failed) => {
      this.pending.push({ event, done, failed });
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
    if (batch.length === 0) return;
    try {
      await this.store.appendAudit(batch.map((b) => b.event));
      for (const b of batch) b.done();
    } catch (error) {
      for (const b of batch) b.failed(error);
    }
  }
}
