import { createHmac, randomBytes } from 'node:crypto';
import type { AuditContext } from '../audit/audit-log.js';
import type { RegistryEvents } from '../events/registry-events.js';
import { RegistryError } from '../registry/errors.js';
import { attemptDelivery } from './delivery.js';
import type { EgressPolicy } from '../network/egress.js';
import { acrPayload, cloudEvent, maskHeaders, normalizeScope, pingPayload, webhookWants, type AcrPayload, type RegistryChange } from './payloads.js';
import { webhookActions, type DeliveryRecord, type NewDelivery, type WebhookAction, type WebhookFormat, type WebhookRecord, type WebhookStore } from './webhook-store.js';

const namePattern = /^[a-zA-Z0-9]{5,50}$/;
export const signatureHeader = 'X-Berth-Signature-256';

export interface WebhookInput {
  uri?: string;
  actions?: string[];
  scope?: string;
  headers?: Record<string, string>;
  status?: 'enabled' | 'disabled';
  format?: WebhookFormat;
  /** true: generate a signing secret (returned once); false: remove it. */
  signed?: boolean;
}

/** What `show`/`list` return: like ARM, without the URI and headers (see `config`). */
export interface WebhookView {
  name: string;
  actions: WebhookAction[];
  scope: string;
  status: 'enabled' | 'disabled';
  format: WebhookFormat;
  signed: boolean;
  provisioningState: 'Succeeded';
  creationDate: string;
  signingSecret?: string;
}

export interface EventView {
  id: string;
  action: string;
  status: DeliveryRecord['status'];
  attempts: number;
  createdAt: string;
  lastAttemptAt: string | null;
  error: string | null;
  eventRequestMessage: { content: unknown; headers: Record<string, string>; method: 'POST'; requestUri: string; version: '1.1' };
  eventResponseMessage: { headers: Record<string, string>; statusCode: number | null; reasonPhrase: string | null; content: string | null; version: '1.1' } | null;
}

const invalid = (message: string): RegistryError => new RegistryError('INVALID_REQUEST', message);

/**
 * Webhooks as ACR has them: turns registry events into deliveries in the durable outbox (the
 * outbox sends them) and keeps the delivery log that `list-events` shows.
 */
export class WebhookService {
  // Every push consults the webhook list: keep it in memory briefly (changes here clear it at once;
  // another instance's changes show within the TTL).
  private cached: { webhooks: WebhookRecord[]; at: number } | null = null;
  private static readonly cacheMs = 5_000;

  constructor(
    private readonly store: WebhookStore,
    /** Tells the outbox there is something to deliver. */
    private readonly wakeOutbox: () => void,
    private readonly egress: EgressPolicy,
    private readonly registryHost: () => string,
  ) {}

  /** Subscribes to registry events: pushes and manifest deletes (a tag delete is not a delete, as in ACR). */
  /**
   * Push and delete events come from the journal: the returned promises make the relay wait
   * until the deliveries are in the outbox, so a failure is retried rather than lost.
   */
  subscribe(events: RegistryEvents): void {
    events.on('manifest.pushed', (e) => {
      const target: Record<string, unknown> = { mediaType: e.mediaType, size: e.size, digest: e.digest, length: e.size, repository: e.repository };
      if (e.tag) target.tag = e.tag;
      return this.publish({ action: 'push', repository: e.repository, tags: e.tag ? [e.tag] : [], target, request: e.request });
    });
    events.on('manifest.deleted', (e) => {
      const target = { mediaType: e.mediaType, digest: e.digest, repository: e.repository };
      return this.publish({ action: 'delete', repository: e.repository, tags: e.tags, target, request: e.request });
    });
  }

  /** Task-run events: queued, succeeded, failed (Canceled, Error and Timeout count as failed). */
  subscribeRuns(events: RegistryEvents, onError: (error: unknown) => void): void {
    events.on('run.changed', (e) => {
      const action = e.status === 'Queued' ? 'run_queued' : e.status === 'Succeeded' ? 'run_succeeded' : e.status === 'Running' ? null : 'run_failed';
      if (!action) return;
      const first = e.outputImages[0];
      const target = { runId: e.runId, task: e.task, trigger: e.trigger, status: e.status, outputImages: e.outputImages };
      const change: RegistryChange = {
        action: action as RegistryChange['action'],
        repository: first?.repository ?? '',
        tags: e.outputImages.map((i) => i.tag),
        target,
        request: null,
      };
      this.publish(change).catch(onError);
    });
  }

  async publish(change: RegistryChange): Promise<void> {
    const webhooks = (await this.webhooks()).filter((w) => webhookWants(w, change));
    if (webhooks.length === 0) return;
    const payload = acrPayload(change);
    await this.store.enqueue(webhooks.map((w) => this.delivery(w, payload)));
    this.wakeOutbox();
  }

  private async webhooks(): Promise<WebhookRecord[]> {
    if (!this.cached || Date.now() - this.cached.at > WebhookService.cacheMs) this.cached = { webhooks: await this.store.listWebhooks(), at: Date.now() };
    return this.cached.webhooks;
  }

  async list(): Promise<WebhookView[]> {
    return (await this.store.listWebhooks()).map((w) => view(w));
  }

  async show(name: string): Promise<WebhookView> {
    return view(await this.require(name));
  }

  async config(name: string): Promise<{ serviceUri: string; customHeaders: Record<string, string> }> {
    const webhook = await this.require(name);
    return { serviceUri: webhook.serviceUri, customHeaders: webhook.customHeaders };
  }

  async create(_ctx: AuditContext, name: string, input: WebhookInput): Promise<WebhookView> {
    if (!namePattern.test(name)) throw invalid('webhook names are 5-50 letters or digits');
    if (await this.store.getWebhook(name)) throw new RegistryError('CONFLICT', `webhook "${name}" already exists`);
    if (!input.uri) throw invalid('--uri is required');
    if (!input.actions || input.actions.length === 0) throw invalid('--actions is required');
    const webhook: WebhookRecord = {
      name,
      serviceUri: validateUri(input.uri, this.egress),
      customHeaders: validateHeaders(input.headers ?? {}),
      actions: validateActions(input.actions),
      scope: normalizeScope(input.scope ?? ''),
      enabled: (input.status ?? 'enabled') === 'enabled',
      format: validateFormat(input.format ?? 'acr'),
      signingSecret: input.signed ? randomBytes(32).toString('base64url') : null,
      createdAt: new Date().toISOString(),
    };
    await this.store.putWebhook(webhook);
    this.cached = null;
    return view(webhook, input.signed === true);
  }

  async update(_ctx: AuditContext, name: string, input: WebhookInput): Promise<WebhookView> {
    const current = await this.require(name);
    const updated: WebhookRecord = {
      ...current,
      serviceUri: input.uri === undefined ? current.serviceUri : validateUri(input.uri, this.egress),
      customHeaders: input.headers === undefined ? current.customHeaders : validateHeaders(input.headers),
      actions: input.actions === undefined ? current.actions : validateActions(input.actions),
      scope: input.scope === undefined ? current.scope : normalizeScope(input.scope),
      enabled: input.status === undefined ? current.enabled : input.status === 'enabled',
      format: input.format === undefined ? current.format : validateFormat(input.format),
      signingSecret: input.signed === undefined ? current.signingSecret : input.signed ? randomBytes(32).toString('base64url') : null,
    };
    await this.store.putWebhook(updated);
    this.cached = null;
    return view(updated, input.signed === true);
  }

  async delete(_ctx: AuditContext, name: string): Promise<void> {
    if (!(await this.store.deleteWebhook(name))) throw new RegistryError('NOT_FOUND', `webhook "${name}" not found`);
    this.cached = null;
  }

  /** Sends a ping at once (outside the queue) and records it in the delivery log. */
  async ping(name: string): Promise<{ id: string; status: DeliveryRecord['status']; statusCode: number | null }> {
    const webhook = await this.require(name);
    const delivery = this.delivery(webhook, pingPayload());
    const [id] = await this.store.enqueue([{ ...delivery, status: 'sending' }]);
    const result = await attemptDelivery(delivery, 10_000, this.egress);
    const status = result.ok ? 'delivered' : 'failed';
    await this.store.recordAttempt(id!, {
      status,
      attempts: 1,
      lastAttemptAt: new Date().toISOString(),
      responseStatus: result.status,
      responseReason: result.reason,
      responseHeaders: result.headers,
      responseBody: result.body,
      error: result.error,
    });
    return { id: delivery.eventId, status, statusCode: result.status };
  }

  async events(name: string, limit: number): Promise<EventView[]> {
    await this.require(name);
    return (await this.store.listDeliveries(name, limit)).map(eventView);
  }

  private delivery(webhook: WebhookRecord, payload: AcrPayload): NewDelivery {
    const body = JSON.stringify(webhook.format === 'cloudevents' ? cloudEvent(payload, this.registryHost()) : payload);
    // Custom headers may override Content-Type, as in ACR; nothing else is added unless asked for.
    const headers: Record<string, string> = {
      'Content-Type': webhook.format === 'cloudevents' ? 'application/cloudevents+json' : 'application/json',
      ...webhook.customHeaders,
    };
    if (webhook.signingSecret) headers[signatureHeader] = `sha256=${createHmac('sha256', webhook.signingSecret).update(body).digest('hex')}`;
    return {
      webhook: webhook.name,
      eventId: payload.id,
      action: payload.action,
      requestUri: webhook.serviceUri,
      requestHeaders: headers,
      requestBody: body,
      createdAt: new Date().toISOString(),
    };
  }

  private async require(name: string): Promise<WebhookRecord> {
    const webhook = await this.store.getWebhook(name);
    if (!webhook) throw new RegistryError('NOT_FOUND', `webhook "${name}" not found`);
    return webhook;
  }
}

function view(webhook: WebhookRecord, showSecret = false): WebhookView {
  return {
    name: webhook.name,
    actions: webhook.actions,
    scope: webhook.scope,
    status: webhook.enabled ? 'enabled' : 'disabled',
    format: webhook.format,
    signed: webhook.signingSecret !== null,
    provisioningState: 'Succeeded',
    creationDate: webhook.createdAt,
    ...(showSecret && webhook.signingSecret ? { signingSecret: webhook.signingSecret } : {}),
  };
}

function eventView(d: DeliveryRecord): EventView {
  let content: unknown = d.requestBody;
  try {
    content = JSON.parse(d.requestBody);
  } catch {
    // keep the raw text
  }
  return {
    id: d.eventId,
    action: d.action,
    status: d.status,
    attempts: d.attempts,
    createdAt: d.createdAt,
    lastAttemptAt: d.lastAttemptAt,
    error: d.error,
    eventRequestMessage: { content, headers: maskHeaders(d.requestHeaders), method: 'POST', requestUri: d.requestUri, version: '1.1' },
    eventResponseMessage:
      d.lastAttemptAt === null
        ? null
        : { headers: maskHeaders(d.responseHeaders ?? {}), statusCode: d.responseStatus, reasonPhrase: d.responseReason, content: d.responseBody, version: '1.1' },
  };
}

/** http(s) only; a literal address or host name the egress policy refuses is refused now (names are checked again at each delivery). */
function validateUri(uri: string, egress: EgressPolicy): string {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw invalid(`invalid --uri "${uri}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw invalid('webhook URIs must be http or https');
  try {
    egress.checkUrl(url);
  } catch (error) {
    throw new RegistryError('DENIED', `webhook URI refused: ${(error as Error).message}`);
  }
  return url.toString();
}

function validateActions(actions: string[]): WebhookAction[] {
  const bad = actions.filter((a) => !(webhookActions as readonly string[]).includes(a));
  if (bad.length > 0) throw invalid(`unknown actions: ${bad.join(', ')} (use ${webhookActions.join(', ')})`);
  return [...new Set(actions)] as WebhookAction[];
}

function validateHeaders(headers: Record<string, string>): Record<string, string> {
  for (const [key, value] of Object.entries(headers)) {
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(key) || /[\r\n]/.test(value)) throw invalid(`invalid header "${key}"`);
  }
  return headers;
}

function validateFormat(format: string): WebhookFormat {
  if (format !== 'acr' && format !== 'cloudevents') throw invalid('format is acr or cloudevents');
  return format;
}
