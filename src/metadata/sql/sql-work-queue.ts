import type { Kysely, Selectable, Updateable } from 'kysely';
import type { NewWorkItem, WorkItem, WorkQueue } from '../../background/work-queue.js';
import type { Database, WorkItemsTable } from './schema.js';

const now = (): string => new Date().toISOString();
const later = (seconds: number): string => new Date(Date.now() + seconds * 1000).toISOString();

/**
 * The work queue in SQL. A claim is a conditional UPDATE (unleased or lease run out) inside a
 * transaction: SQLite's BEGIN IMMEDIATE serializes claimers; on PostgreSQL the same UPDATE's
 * condition makes a second claimer update nothing (a later step: FOR UPDATE SKIP LOCKED).
 */
export class SqlWorkQueue implements WorkQueue {
  constructor(private readonly db: Kysely<Database>) {}

  async enqueue(item: NewWorkItem): Promise<boolean> {
    const result = await this.db
      .insertInto('work_items')
      .values(this.newRow(item, false))
      .onConflict((oc) => oc.columns(['kind', 'key']).doNothing())
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0n) > 0;
  }

  async ensureRecurring(item: NewWorkItem & { replace?: boolean }): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const existing = await trx.selectFrom('work_items').select(['id', 'run_at']).where('kind', '=', item.kind).where('key', '=', item.key).executeTakeFirst();
      if (!existing) {
        await trx.insertInto('work_items').values(this.newRow(item, true)).execute();
        return;
      }
      const runAt = item.runAt ?? now();
      const patch: Updateable<WorkItemsTable> = { updated_at: now() };
      if (item.replace || runAt < existing.run_at) patch.run_at = runAt;
      if (item.payload !== undefined) patch.payload = JSON.stringify(item.payload);
      await trx.updateTable('work_items').set(patch).where('id', '=', existing.id).execute();
    });
  }

  async remove(kind: string, key: string): Promise<boolean> {
    const result = await this.db.deleteFrom('work_items').where('kind', '=', kind).where('key', '=', key).executeTakeFirst();
    return result.numDeletedRows > 0n;
  }

  async removeByPrefix(kind: string, prefix: string): Promise<number> {
    const rows = await this.db.selectFrom('work_items').select(['id', 'key']).where('kind', '=', kind).execute();
    const ids = rows.filter((r) => r.key.startsWith(prefix)).map((r) => r.id);
    if (ids.length === 0) return 0;
    await this.db.deleteFrom('work_items').where('id', 'in', ids).execute();
    return ids.length;
  }

  async claimDue(owner: string, kinds: string[], leaseSeconds: number): Promise<WorkItem | null> {
    if (kinds.length === 0) return null;
    return this.db.transaction().execute(async (trx) => {
      const at = now();
      const candidate = await trx
        .selectFrom('work_items')
        .select('id')
        .where('kind', 'in', kinds)
        .where('run_at', '<=', at)
        .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', at)]))
        .orderBy('run_at')
        .limit(1)
        .executeTakeFirst();
      if (!candidate) return null;
      return this.takeLease(trx, candidate.id, owner, leaseSeconds, at);
    });
  }

  async claimKey(owner: string, kind: string, key: string, leaseSeconds: number): Promise<WorkItem | null> {
    return this.db.transaction().execute(async (trx) => {
      const at = now();
      const row = await trx.selectFrom('work_items').select(['id', 'lease_owner', 'lease_until']).where('kind', '=', kind).where('key', '=', key).executeTakeFirst();
      if (!row) return null;
      if (row.lease_owner !== null && row.lease_owner !== owner && row.lease_until !== null && row.lease_until >= at) return null;
      return this.takeLease(trx, row.id, owner, leaseSeconds, at);
    });
  }

  private async takeLease(trx: Kysely<Database>, id: number, owner: string, leaseSeconds: number, at: string): Promise<WorkItem | null> {
    const claimed = await trx
      .updateTable('work_items')
      .set({ lease_owner: owner, lease_until: later(leaseSeconds), updated_at: at })
      .where('id', '=', id)
      .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', at), eb('lease_owner', '=', owner)]))
      .executeTakeFirst();
    if (claimed.numUpdatedRows === 0n) return null;
    const row = await trx.selectFrom('work_items').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    return toItem(row);
  }

  async renew(id: number, owner: string, leaseSeconds: number, payload?: unknown): Promise<boolean> {
    const result = await this.db
      .updateTable('work_items')
      .set({ lease_until: later(leaseSeconds), updated_at: now(), ...(payload !== undefined ? { payload: JSON.stringify(payload) } : {}) })
      .where('id', '=', id)
      .where('lease_owner', '=', owner)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async complete(id: number, owner: string): Promise<void> {
    await this.db.deleteFrom('work_items').where('id', '=', id).where('lease_owner', '=', owner).execute();
  }

  async reschedule(id: number, owner: string, runAt: string, payload?: unknown): Promise<void> {
    await this.release(id, owner, { run_at: runAt, attempts: 0, last_error: null, ...(payload !== undefined ? { payload: JSON.stringify(payload) } : {}) });
  }

  async fail(id: number, owner: string, runAt: string, error: string, payload?: unknown): Promise<void> {
    const row = await this.db.selectFrom('work_items').select('attempts').where('id', '=', id).executeTakeFirst();
    await this.release(id, owner, {
      run_at: runAt,
      attempts: (row?.attempts ?? 0) + 1,
      last_error: error.slice(0, 2000),
      ...(payload !== undefined ? { payload: JSON.stringify(payload) } : {}),
    });
  }

  private async release(id: number, owner: string, patch: Updateable<WorkItemsTable>): Promise<void> {
    await this.db
      .updateTable('work_items')
      .set({ ...patch, lease_owner: null, lease_until: null, updated_at: now() })
      .where('id', '=', id)
      .where('lease_owner', '=', owner)
      .execute();
  }

  async get(kind: string, key: string): Promise<WorkItem | null> {
    const row = await this.db.selectFrom('work_items').selectAll().where('kind', '=', kind).where('key', '=', key).executeTakeFirst();
    return row ? toItem(row) : null;
  }

  async list(kind: string, keyPrefix = ''): Promise<WorkItem[]> {
    const rows = await this.db.selectFrom('work_items').selectAll().where('kind', '=', kind).orderBy('key').execute();
    return rows.filter((r) => r.key.startsWith(keyPrefix)).map(toItem);
  }

  private newRow(item: NewWorkItem, recurring: boolean) {
    const at = now();
    return {
      kind: item.kind,
      key: item.key,
      recurring: recurring ? 1 : 0,
      payload: JSON.stringify(item.payload ?? {}),
      run_at: item.runAt ?? at,
      lease_owner: null,
      lease_until: null,
      attempts: 0,
      last_error: null,
      created_at: at,
      updated_at: at,
    };
  }
}

function toItem(row: Selectable<WorkItemsTable>): WorkItem {
  return {
    id: Number(row.id),
    kind: row.kind,
    key: row.key,
    recurring: row.recurring === 1,
    payload: JSON.parse(row.payload) as unknown,
    runAt: row.run_at,
    attempts: row.attempts,
    lastError: row.last_error,
    leaseOwner: row.lease_owner,
    leaseUntil: row.lease_until,
    updatedAt: row.updated_at,
  };
}
