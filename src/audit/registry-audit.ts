import type { RegistryEvents } from '../events/registry-events.js';
import type { RequestContext } from '../events/request-context.js';
import type { AuditLog } from './audit-log.js';

function context(request: RequestContext | null): { actor: string; client: string | null } {
  return { actor: request?.actor ?? 'system', client: request?.address ?? null };
}

/**
 * Records content changes in the audit log (target = repository), so "who pushed, deleted or
 * moved what, when" is queryable by repository and time next to logins and permission changes.
 */
export function auditRegistryChanges(events: RegistryEvents, audit: AuditLog, onError: (error: unknown) => void): void {
  events.on('manifest.pushed', (e) => {
    const ctx = context(e.request);
    audit.record(ctx, 'image.pushed', e.repository, { digest: e.digest, tag: e.tag, mediaType: e.mediaType }).catch(onError);
    if (e.tag && e.previousDigest) audit.record(ctx, 'tag.moved', e.repository, { tag: e.tag, from: e.previousDigest, to: e.digest }).catch(onError);
  });
  // The audit log batches its writes: these listeners do not hold the event relay up for a flush.
  events.on('manifest.deleted', (e) => void audit.record(context(e.request), 'image.deleted', e.repository, { digest: e.digest, tags: e.tags }).catch(onError));
  events.on('tag.deleted', (e) => void audit.record(context(e.request), 'tag.deleted', e.repository, { tag: e.tag }).catch(onError));
}
