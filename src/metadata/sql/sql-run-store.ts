import type { Kysely } from 'kysely';
import { DuplicateTriggerError, type ImageUpdateTrigger, type NewRun, type RunQuery, type RunRecord, type RunStore } from '../../tasks/run-store.js';
import type { Database } from './schema.js';

const now = (): string => new Date().toISOString();
const later = (seconds: number): string => new Date(Date.now() + seconds * 1000).toISOString();

/**
 * Runs as JSON records, with the columns agents coordinate on (status, agent, lease) kept
 * alongside so claiming is one conditional UPDATE.
 */
export class SqlRunStore implements RunStore {
  constructor(private readonly db: Kysely<Database>) {}

  async createRun(input: NewRun, sealedSecrets: string | null = null): Promise<RunRecord> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.db.transaction().execute(async (trx) => {
          if (input.triggerKey) {
            const existing = await trx.selectFrom('runs').select('id').where('trigger_key', '=', input.triggerKey).executeTakeFirst();
            if (existing) throw new DuplicateTriggerError(input.triggerKey, existing.id);
          }
          const max = await trx.selectFrom('runs').select((eb) => eb.fn.max('seq').as('seq')).executeTakeFirst();
          const seq = Number(max?.seq ?? 0) + 1;
          const run: RunRecord = {
            ...input,
            id: `cb${seq}`,
            seq,
            status: 'Queued',
            agent: null,
            leaseUntil: null,
            cancelRequested: false,
            startedAt: null,
            finishedAt: null,
            outputImages: [],
            steps: [],
            error: null,
          };
          await trx.insertInto('runs').values(this.row(run)).execute();
          if (sealedSecrets) await trx.insertInto('run_secrets').values({ run_id: run.id, sealed: sealedSecrets }).execute();
          return run;
        });
      } catch (error) {
        if (error instanceof DuplicateTriggerError || attempt > 5) throw error; // a concurrent creator took the same seq (PostgreSQL): retry
      }
    }
  }

  async takeRunSecrets(id: string): Promise<string | null> {
    return this.db.transaction().execute(async (trx) => {
      const row = await trx.selectFrom('run_secrets').select('sealed').where('run_id', '=', id).executeTakeFirst();
      if (row) await trx.deleteFrom('run_secrets').where('run_id', '=', id).execute();
      return row?.sealed ?? null;
    });
  }

  async getRun(id: string): Promise<RunRecord | null> {
    const row = await this.db.selectFrom('runs').select('record').where('id', '=', id).executeTakeFirst();
    return row ? (JSON.parse(row.record) as RunRecord) : null;
  }

  async listRuns(query: RunQuery): Promise<RunRecord[]> {
    let q = this.db.selectFrom('runs').select('record').orderBy('seq', 'desc');
    if (query.taskName) q = q.where('task_name', '=', query.taskName);
    if (query.status) q = q.where('status', '=', query.status);
    const runs = (await q.limit(query.image ? 10_000 : query.top).execute()).map((r) => JSON.parse(r.record) as RunRecord);
    const filtered = query.image ? runs.filter((r) => r.outputImages.some((o) => `${o.repository}:${o.tag}`.includes(query.image!))) : runs;
    return filtered.slice(0, query.top);
  }

  async claimRun(agent: string, leaseSeconds: number, platforms?: string[]): Promise<RunRecord | null> {
    return this.db.transaction().execute(async (trx) => {
      let query = trx.selectFrom('runs').select('id').where('status', '=', 'Queued');
      if (platforms) query = query.where('platform', 'in', platforms.length ? platforms : ['-']);
      const next = await query.orderBy('seq').limit(1).executeTakeFirst();
      if (!next) return null;
      const startedAt = now();
      const leaseUntil = later(leaseSeconds);
      const claimed = await trx
        .updateTable('runs')
        .set({ status: 'Running', agent, lease_until: leaseUntil })
        .where('id', '=', next.id)
        .where('status', '=', 'Queued')
        .executeTakeFirst();
      if (claimed.numUpdatedRows === 0n) return null;
      const row = await trx.selectFrom('runs').select('record').where('id', '=', next.id).executeTakeFirstOrThrow();
      const run = { ...(JSON.parse(row.record) as RunRecord), status: 'Running' as const, agent, leaseUntil, startedAt };
      await trx.updateTable('runs').set({ record: JSON.stringify(run) }).where('id', '=', run.id).execute();
      return run;
    });
  }

  async renewLease(id: string, agent: string, leaseSeconds: number): Promise<boolean> {
    const result = await this.db
      .updateTable('runs')
      .set({ lease_until: later(leaseSeconds) })
      .where('id', '=', id)
      .where('agent', '=', agent)
      .where('status', '=', 'Running')
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async updateRun(id: string, patch: Parameters<RunStore['updateRun']>[1]): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const row = await trx.selectFrom('runs').select('record').where('id', '=', id).executeTakeFirst();
      if (!row) return;
      const run = { ...(JSON.parse(row.record) as RunRecord), ...patch };
      await trx.updateTable('runs').set(this.mutableColumns(run, patch.leaseUntil !== undefined)).where('id', '=', id).execute();
    });
  }

  async updateQueuedTrigger(id: string, imageUpdateTrigger: ImageUpdateTrigger): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const row = await trx.selectFrom('runs').select('record').where('id', '=', id).where('status', '=', 'Queued').executeTakeFirst();
      if (!row) return false;
      const run = { ...(JSON.parse(row.record) as RunRecord), imageUpdateTrigger };
      await trx.updateTable('runs').set({ record: JSON.stringify(run) }).where('id', '=', id).where('status', '=', 'Queued').execute();
      return true;
    });
  }

  async requestCancel(id: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const row = await trx.selectFrom('runs').select('record').where('id', '=', id).executeTakeFirst();
      if (!row) return false;
      const run = JSON.parse(row.record) as RunRecord;
      if (run.status === 'Queued') {
        Object.assign(run, { status: 'Canceled', finishedAt: now(), cancelRequested: true });
        await trx.deleteFrom('run_secrets').where('run_id', '=', id).execute();
      } else {
        run.cancelRequested = true;
      }
      await trx.updateTable('runs').set(this.mutableColumns(run, false)).where('id', '=', id).execute();
      return true;
    });
  }

  async expireLeases(): Promise<string[]> {
    const expired = await this.db.selectFrom('runs').select('id').where('status', '=', 'Running').where('lease_until', '<', now()).execute();
    for (const { id } of expired) {
      await this.updateRun(id, { status: 'Error', finishedAt: now(), error: 'the agent running this run stopped answering (lease expired)' });
    }
    return expired.map((r) => r.id);
  }

  async abandonRuns(agent: string, error: string): Promise<string[]> {
    const held = await this.db.selectFrom('runs').select('id').where('status', '=', 'Running').where('agent', '=', agent).execute();
    for (const { id } of held) await this.updateRun(id, { status: 'Error', finishedAt: now(), error });
    return held.map((r) => r.id);
  }

  async appendLog(id: string, text: string): Promise<void> {
    await this.db.insertInto('run_logs').values({ run_id: id, text }).execute();
  }

  async deleteLogsBefore(before: string): Promise<number> {
    const rows = await this.db.selectFrom('runs').select(['id', 'record']).where('status', 'not in', ['Queued', 'Running']).execute();
    const expired = rows.filter((r) => {
      const finishedAt = (JSON.parse(r.record) as RunRecord).finishedAt;
      return finishedAt !== null && finishedAt < before;
    });
    for (const { id } of expired) await this.db.deleteFrom('run_logs').where('run_id', '=', id).execute();
    return expired.length;
  }

  async readLog(id: string, afterSeq: number): Promise<Array<{ seq: number; text: string }>> {
    const rows = await this.db.selectFrom('run_logs').select(['seq', 'text']).where('run_id', '=', id).where('seq', '>', afterSeq).orderBy('seq').execute();
    return rows.map((r) => ({ seq: Number(r.seq), text: r.text }));
  }

  /** What an update may change; agent and lease belong to claim/renew unless asked. */
  private mutableColumns(run: RunRecord, withLease: boolean) {
    return {
      status: run.status,
      cancel_requested: run.cancelRequested ? 1 : 0,
      record: JSON.stringify(run),
      ...(withLease ? { lease_until: run.leaseUntil } : {}),
    };
  }

  private row(run: RunRecord) {
    return {
      id: run.id,
      seq: run.seq,
      status: run.status,
      task_name: run.taskName,
      agent: run.agent,
      lease_until: run.leaseUntil,
      cancel_requested: run.cancelRequested ? 1 : 0,
      created_at: run.createdAt,
      platform: run.platform,
      trigger_key: run.triggerKey ?? null,
      record: JSON.stringify(run),
    };
  }
}
