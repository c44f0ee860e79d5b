import type { FastifyBaseLogger } from 'fastify';
import type { WorkHandler } from '../background/background-worker.js';
import type { LifecycleStore } from './lifecycle-store.js';
import { planRepository } from './purge-plan.js';
import type { PurgeService } from './purge-service.js';

export const retentionKind = 'retention';
/** How often the policy is applied: `--days 0` ("right away") means within this. */
export const retentionIntervalMs = 5000;

/**
 * The untagged-manifest retention policy as a recurring work item: every manifest without a tag
 * for `days` days goes, OCI and Docker media types alike, with purge's protections (children of
 * an index that stays, referrers of a subject that stays, referrers go with their subject).
 */
export function retentionHandler(store: LifecycleStore, purge: PurgeService, log: FastifyBaseLogger): WorkHandler {
  return {
    kind: retentionKind,
    leaseSeconds: 300,
    async handle() {
      const policy = await store.retentionPolicy();
      const next = { runAt: new Date(Date.now() + retentionIntervalMs) };
      if (policy.status !== 'enabled') return next;
      const cutoffMs = Date.now() - policy.days * 86_400_000;
      const plans = [];
      // Only repositories with a manifest untagged long enough (an index on untagged_at): the
      // cost follows what there is to delete, not the size of the registry.
      for (const repository of await store.repositoriesWithUntagged(new Date(cutoffMs).toISOString())) {
        const plan = planRepository(await store.snapshot(repository), { tags: null, cutoffMs, keep: 0, untagged: false, untaggedOnly: true, untaggedAge: 'untagged' });
        if (plan.manifests.length > 0) plans.push(plan);
      }
      if (plans.length === 0) return next;
      const result = await purge.execute(plans, false, 4);
      if (result.deletedManifests > 0) log.info({ manifests: result.deletedManifests, bytesFreed: result.bytesFreed, days: policy.days }, 'retention deleted untagged manifests');
      return next;
    },
  };
}
