import type { Kysely, Selectable } from 'kysely';
import type { DeliveryRecord, NewDelivery, WebhookRecord, WebhookStore } from '../../webhooks/webhook-store.js';
import type { Database, WebhookDeliveriesTable, WebhooksTable } from './schema.js';

/** WebhookStore on the metadata database: the outbox commits like any other write. */
export class SqlWebhookStore implements WebhookStore {
  constructor(private readonly db: Kysely<Database>) {}

  async getWebhook(name: string): Promise<WebhookRecord | null> {
    const row = await this.db.selectFrom('webhooks').selectAll().where('name', '=', name).executeTakeFirst();
    return row ? toWebhook(row) : null;
  }

  async listWebhooks(): Promise<WebhookRecord[]> {
    return (await this.db.selectFrom('webhooks').selectAll().orderBy('name').execute()).map(toWebhook);
  }

  async putWebhook(webhook: WebhookRecord): Promise<void> {
    const row = {
      name: webhook.name,
      service_uri: webhook.serviceUri,
      custom_headers: JSON.stringify(webhook.customHeaders),
      actions: JSON.stringify(webhook.actions),
      scope: webhook.scope,
      enabled: webhook.enabled ? 1 : 0,
      format: webhook.format,
      signing_secret: webhook.signingSecret,
      created_at: webhook.createdAt,
    };
    await this.db.insertInto('webhooks').values(row).onConflict((oc) => oc.column('name').doUpdateSet(row)).execute();
  }

  async deleteWebhook(name: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('webhook_deliveries').where('webhook', '=', name).execute();
      return (await trx.deleteFrom('webhooks').where('name', '=', name).executeTakeFirst()).numDeletedRows > 0n;
    });
  }

  async enqueue(deliveries: NewDelivery[]): Promise<number[]> {
    if (deliveries.length === 0) return [];
    const rows = await this.db
      .insertInto('webhook_deliveries')
      .values(
        deliveries.map((d) => ({
          webhook: d.webhook,
          event_id: d.eventId,
          action: d.action,
          request_uri: d.requestUri,
          request_headers: JSON.stringify(d.requestHeaders),
          request_body: d.requestBody,
          status: d.status ?? 'pending',
          attempts: 0,
          created_at: d.createdAt,
          next_attempt_at: d.createdAt,
        })),
      )
      .returning('id')
      .execute();
    return rows.map((r) => Number(r.id));
  }

  async nextPending(): Promise<DeliveryRecord[]> {
    const heads = this.db
      .selectFrom('webhook_deliveries')
      .select((eb) => [eb.fn.min('id').as('id')])
      .where('status', '=', 'pending')
      .groupBy('webhook');
    const rows = await this.db
      .selectFrom('webhook_deliveries')
      .selectAll()
      .where('id', 'in', heads)
      .orderBy('id')
      .execute();
    return rows.map(toDelivery);
  }

  async recordAttempt(id: number, update: Parameters<WebhookStore['recordAttempt']>[1]): Promise<void> {
    const row: Record<string, unknown> = {};
    if (update.status !== undefined) row.status = update.status;
    if (update.attempts !== undefined) row.attempts = update.attempts;
    if (update.nextAttemptAt !== undefined) row.next_attempt_at = update.nextAttemptAt;
    if (update.lastAttemptAt !== undefined) row.last_attempt_at = update.lastAttemptAt;
    if (update.responseStatus !== undefined) row.response_status = update.responseStatus;
    if (update.responseReason !== undefined) row.response_reason = update.responseReason;
    if (update.responseHeaders !== undefined) row.response_headers = update.responseHeaders === null ? null : JSON.stringify(update.responseHeaders);
    if (update.responseBody !== undefined) row.response_body = update.responseBody;
    if (update.error !== undefined) row.error = update.error;
    await this.db.updateTable('webhook_deliveries').set(row).where('id', '=', id).execute();
  }

  async listDeliveries(webhook: string, limit: number): Promise<DeliveryRecord[]> {
    const rows = await this.db.selectFrom('webhook_deliveries').selectAll().where('webhook', '=', webhook).orderBy('id', 'desc').limit(limit).execute();
    return rows.map(toDelivery);
  }
}


function toWebhook(row: Selectable<WebhooksTable>): WebhookRecord {
  return {
    name: row.name,
    serviceUri: row.service_uri,
    customHeaders: JSON.parse(row.custom_headers) as Record<string, string>,
    actions: JSON.parse(row.actions) as WebhookRecord['actions'],
    scope: row.scope,
    enabled: Boolean(row.enabled),
    format: row.format as WebhookRecord['format'],
    signingSecret: row.signing_secret,
    createdAt: row.created_at,
  };
}

function toDelivery(row: Selectable<WebhookDeliveriesTable>): DeliveryRecord {
  return {
    id: Number(row.id),
    webhook: row.webhook,
    eventId: row.event_id,
    action: row.action,
    requestUri: row.request_uri,
    requestHeaders: JSON.parse(row.request_headers) as Record<string, string>,
    requestBody: row.request_body,
    status: row.status as DeliveryRecord['status'],
    attempts: Number(row.attempts),
    createdAt: row.created_at,
    nextAttemptAt: row.next_attempt_at,
    lastAttemptAt: row.last_attempt_at,
    responseStatus: row.response_status === null ? null : Number(row.response_status),
    responseReason: row.response_reason,
    responseHeaders: row.response_headers ? (JSON.parse(row.response_headers) as Record<string, string>) : null,
    responseBody: row.response_body,
    error: row.error,
  };
}
