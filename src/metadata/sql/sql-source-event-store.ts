import type { Kysely, Selectable } from 'kysely';
import type { SourceEvent, SourceEventStore, SourceEventVerdict } from '../../triggers/source-event-store.js';
import type { Database, SourceEventsTable } from './schema.js';

/** Events kept per task: enough to answer for weeks of pushes, bounded for a noisy repository. */
const keepPerTask = 500;

export class SqlSourceEventStore implements SourceEventStore {
  constructor(private readonly db: Kysely<Database>) {}

  async record(event: Omit<SourceEvent, 'id' | 'receivedAt'>): Promise<SourceEvent> {
    const receivedAt = new Date().toISOString();
    const row = await this.db
      .insertInto('source_events')
      .values({
        task: event.task,
        received_at: receivedAt,
        provider: event.provider,
        delivery_id: event.deliveryId,
        repository_url: event.repositoryUrl,
        ref: event.ref,
        commit_sha: event.commit,
        verdict: event.verdict,
        run_id: event.runId,
        detail: event.detail,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    const id = Number(row.id);
    if (id % 50 === 0) {
      const cutoff = await this.db.selectFrom('source_events').select('id').where('task', '=', event.task).orderBy('id', 'desc').offset(keepPerTask).limit(1).executeTakeFirst();
      if (cutoff) await this.db.deleteFrom('source_events').where('task', '=', event.task).where('id', '<=', cutoff.id).execute();
    }
    return { ...event, id, receivedAt };
  }

  async list(task: string, top: number): Promise<SourceEvent[]> {
    const rows = await this.db.selectFrom('source_events').selectAll().where('task', '=', task).orderBy('id', 'desc').limit(top).execute();
    return rows.map(toEvent);
  }

  async seenDelivery(task: string, provider: string, deliveryId: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('source_events')
      .select('id')
      .where('task', '=', task)
      .where('provider', '=', provider)
      .where('delivery_id', '=', deliveryId)
      .where('verdict', '!=', 'bad-signature')
      .executeTakeFirst();
    return row !== undefined;
  }

  async deleteTask(task: string): Promise<void> {
    await this.db.deleteFrom('source_events').where('task', '=', task).execute();
  }
}

function toEvent(row: Selectable<SourceEventsTable>): SourceEvent {
  return {
    id: Number(row.id),
    task: row.task,
    receivedAt: row.received_at,
    provider: row.provider,
    deliveryId: row.delivery_id,
    repositoryUrl: row.repository_url,
    ref: row.ref,
    commit: row.commit_sha,
    verdict: row.verdict as SourceEventVerdict,
    runId: row.run_id,
    detail: row.detail,
  };
}
