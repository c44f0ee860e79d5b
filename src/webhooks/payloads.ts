import { randomUUID } from 'node:crypto';
import type { RequestContext } from '../events/request-context.js';
import type { WebhookAction, WebhookRecord } from './webhook-store.js';

/** ACR's webhook payload (container-registry-webhook-reference). */
export interface AcrPayload {
  id: string;
  timestamp: string;
  action: string;
  target?: Record<string, unknown>;
  request?: { id: string; host: string; method: string; useragent: string };
}

export interface RegistryChange {
  action: WebhookAction;
  repository: string;
  /** Tags the change concerns: the pushed tag, or the tags a deleted manifest had. */
  tags: string[];
  target: Record<string, unknown>;
  request: RequestContext | null;
}

export function acrPayload(change: RegistryChange): AcrPayload {
  return {
    id: randomUUID(),
    timestamp: new Date().toISOString(),
    action: change.action,
    target: change.target,
    ...(change.request
      ? { request: { id: change.request.id, host: change.request.host, method: change.request.method, useragent: change.request.userAgent } }
      : {}),
  };
}

export function pingPayload(): AcrPayload {
  return { id: randomUUID(), timestamp: new Date().toISOString(), action: 'ping' };
}

const cloudEventTypes: Record<string, string> = {
  push: 'Microsoft.ContainerRegistry.ImagePushed',
  delete: 'Microsoft.ContainerRegistry.ImageDeleted',
  chart_push: 'Microsoft.ContainerRegistry.ChartPushed',
  chart_delete: 'Microsoft.ContainerRegistry.ChartDeleted',
  ping: 'Berth.Webhook.Ping',
  run_queued: 'Berth.Tasks.RunQueued',
  run_succeeded: 'Berth.Tasks.RunSucceeded',
  run_failed: 'Berth.Tasks.RunFailed',
};

/** CloudEvents 1.0, structured JSON, with Event Grid's type names and the ACR payload as data. */
export function cloudEvent(payload: AcrPayload, registryHost: string): Record<string, unknown> {
  const target = payload.target ?? {};
  const subject = target.repository ? `${String(target.repository)}${target.tag ? `:${String(target.tag)}` : ''}` : undefined;
  return {
    specversion: '1.0',
    id: payload.id,
    source: `/registries/${registryHost}`,
    type: cloudEventTypes[payload.action] ?? `Berth.${payload.action}`,
    time: payload.timestamp,
    datacontenttype: 'application/json',
    ...(subject ? { subject } : {}),
    data: payload,
  };
}

/** ACR's scope rule: '' everything; `repo:*` all tags; `repo:tag` exact; bare `repo` = `repo:latest`. */
export function normalizeScope(scope: string): string {
  const trimmed = scope.trim();
  if (trimmed === '' || trimmed.includes(':')) return trimmed;
  return `${trimmed}:latest`;
}

export function scopeMatches(scope: string, change: Pick<RegistryChange, 'repository' | 'tags'>): boolean {
  if (scope === '') return true;
  const colon = scope.lastIndexOf(':');
  const repository = scope.slice(0, colon);
  const tag = scope.slice(colon + 1);
  const repositoryMatches = repository === '*' || repository === change.repository || (repository.endsWith('/*') && change.repository.startsWith(repository.slice(0, -1)));
  if (!repositoryMatches) return false;
  return tag === '*' || change.tags.includes(tag);
}

export function webhookWants(webhook: WebhookRecord, change: RegistryChange): boolean {
  if (!webhook.enabled || !webhook.actions.includes(change.action)) return false;
  // Run events match on the images they produced, or any scope when they produced none.
  if (change.action.startsWith('run_') && change.tags.length === 0) return true;
  return scopeMatches(webhook.scope, change);
}

const sensitiveHeader = /authorization|token|secret|password|signature|api-?key|cookie/i;

/** Header values a delivery log must not show (ACR masks them as ******). */
export function maskHeaders(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, sensitiveHeader.test(k) ? '******' : v]));
}
