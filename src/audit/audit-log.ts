import type { AuditEvent, AuditQuery, AuthStore } from '../auth/auth-store.js';

export interface AuditContext {
  actor: string;
  client: string | null;
}

/** Who did what, when, from where: logins, failed logins and every permission change. */
export class AuditLog {
  constructor(private readonly store: AuthStore) {}

  async record(context: AuditContext, kind: string, target: string | null, detail: Record<string, unknown> | null = null): Promise<void> {
    await this.store.appendAudit({ at: new Date().toISOString(), kind, actor: context.actor, client: context.client, target, detail });
  }

  query(query: AuditQuery): Promise<AuditEvent[]> {
    return this.store.queryAudit(query);
  }
}
