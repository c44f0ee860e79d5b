import type { FastifyBaseLogger } from 'fastify';
import type { AuditContext, AuditLog } from '../audit/audit-log.js';
import type { WorkHandler } from '../background/background-worker.js';
import { RegistryError } from '../registry/errors.js';
import type { LifecycleStore } from './lifecycle-store.js';
import { checkPolicyName, checkRepositoryPattern, compilePolicy, normalizeRules, type CompiledPolicy, type LifecyclePolicy, type PolicyInput, type PolicyStore } from './policy.js';
import { planPolicies, type DeletionReason } from './policy-plan.js';
import type { RepositoryPlan } from './purge-plan.js';
import type { PurgeService } from './purge-service.js';

export const policyKind = 'lifecycle-policies';

export interface PolicyEvaluation {
  dryRun: boolean;
  /** The moment the rules were applied (durations count back from it). */
  evaluatedAt: string;
  /** The policies whose delete rules applied (keep rules and excludes of every enabled policy always do). */
  policies: string[];
  /** When the scheduled evaluation is next due (null: not known, e.g. not scheduled yet). */
  nextEvaluationAt: string | null;
  repositories: Array<{
    repository: string;
    tags: Array<{ tag: string; digest: string } & DeletionReason>;
    manifests: Array<{ digest: string; mediaType: string; size: number } & DeletionReason>;
    /** Chosen, but kept by a lock (policies never unlock). */
    keptByLock: { tags: string[]; manifests: string[] };
  }>;
  deletedTags: number;
  deletedManifests: number;
  /** Manifest bytes plus the blobs no remaining manifest references (what the garbage collector then frees). */
  bytesFreed: number;
  /** Planned deletions something kept when their turn came (a tag moved, a new parent, a new lock). */
  skipped: number;
  keptByLock: number;
}

/**
 * Lifecycle policies: their definitions (validated, audited), and their evaluation, planned by
 * `planPolicies` and carried out by the purge service. A preview is the same plan, not carried
 * out, so it shows exactly what an evaluation at that moment deletes.
 */
export class PolicyService {
  private nextEvaluation: () => Promise<string | null> = async () => null;

  constructor(
    private readonly store: PolicyStore,
    private readonly lifecycle: LifecycleStore,
    private readonly purge: PurgeService,
    private readonly audit: AuditLog,
    private readonly log: Pick<FastifyBaseLogger, 'info'>,
  ) {}

  /** Where the schedule's next due time is read (the work queue, known once background work is composed). */
  readNextEvaluationFrom(source: () => Promise<string | null>): void {
    this.nextEvaluation = source;
  }

  list(): Promise<LifecyclePolicy[]> {
    return this.store.listPolicies();
  }

  async show(name: string): Promise<LifecyclePolicy> {
    const policy = await this.store.getPolicy(name);
    if (!policy) throw new RegistryError('NOT_FOUND', `policy "${name}" not found`);
    return policy;
  }

  async create(ctx: AuditContext, name: string, input: PolicyInput): Promise<LifecyclePolicy> {
    checkPolicyName(name);
    if (input.repository === undefined) throw new RegistryError('INVALID_REQUEST', '--repository is required: a repository regex, anchored, e.g. team/.* or (app|web)');
    checkRepositoryPattern(input.repository);
    const now = new Date().toISOString();
    const policy: LifecyclePolicy = { name, repository: input.repository, status: input.status ?? 'enabled', rules: normalizeRules(input.rules ?? {}), createdAt: now, updatedAt: now };
    if (!(await this.store.insertPolicy(policy))) throw new RegistryError('CONFLICT', `policy "${name}" already exists`);
    await this.audit.record(ctx, 'policy.created', name, { repository: policy.repository, status: policy.status, rules: policy.rules });
    return policy;
  }

  /** `repository` and `status` change when given; `rules`, when given, replace the rules as a whole. */
  async update(ctx: AuditContext, name: string, input: PolicyInput): Promise<LifecyclePolicy> {
    const current = await this.show(name);
    if (input.repository !== undefined) checkRepositoryPattern(input.repository);
    const policy: LifecyclePolicy = {
      ...current,
      repository: input.repository ?? current.repository,
      status: input.status ?? current.status,
      rules: input.rules !== undefined ? normalizeRules(input.rules) : current.rules,
      updatedAt: new Date().toISOString(),
    };
    if (!(await this.store.updatePolicy(policy))) throw new RegistryError('NOT_FOUND', `policy "${name}" not found`);
    await this.audit.record(ctx, 'policy.updated', name, { repository: policy.repository, status: policy.status, rules: policy.rules });
    return policy;
  }

  async delete(ctx: AuditContext, name: string): Promise<void> {
    if (!(await this.store.deletePolicy(name))) throw new RegistryError('NOT_FOUND', `policy "${name}" not found`);
    await this.audit.record(ctx, 'policy.removed', name, null);
  }

  /** What an evaluation now would delete (of every enabled policy, or of `name` alone, enabled or not), deleting nothing. */
  async preview(name?: string): Promise<PolicyEvaluation> {
    const { plans, reasons, acting, at } = await this.plan(name);
    const result = await this.purge.execute(plans, true, 4);
    return { ...this.report(plans, reasons, acting, at, result, true), nextEvaluationAt: await this.nextEvaluation().catch(() => null) };
  }

  /**
   * Applies the policies now: every enabled one (the schedule), or `name` alone. Every deletion is
   * audited with the policy and rule that chose it.
   */
  async evaluate(name: string | undefined, trigger: 'schedule' | 'manual', requestedBy: AuditContext | null = null): Promise<PolicyEvaluation> {
    const { plans, reasons, acting, at } = await this.plan(name);
    if (plans.length === 0) return this.report(plans, reasons, acting, at, { repositories: [], deletedTags: 0, deletedManifests: 0, bytesFreed: 0, skipped: 0, keptByLock: 0 }, false);
    const result = await this.purge.execute(plans, false, 4);
    const done = new Map(result.repositories.map((r) => [r.repository, r]));
    const audited: Array<Promise<void>> = [];
    for (const plan of plans) {
      const deleted = done.get(plan.repository);
      if (!deleted) continue;
      const why = reasons.get(plan.repository)!;
      const byTag = new Map(plan.tags.map((t) => [t.name, t]));
      for (const tag of deleted.tags) {
        const reason = why.tags.get(tag)!;
        audited.push(this.audit.record({ actor: `policy:${reason.policy}`, client: requestedBy?.client ?? null }, 'policy.tag_deleted', plan.repository, { ...reason, tag, digest: byTag.get(tag)?.digest, trigger, ...(requestedBy ? { requestedBy: requestedBy.actor } : {}) }));
      }
      for (const digest of deleted.manifests) {
        const reason = why.manifests.get(digest)!;
        audited.push(this.audit.record({ actor: `policy:${reason.policy}`, client: requestedBy?.client ?? null }, 'policy.manifest_deleted', plan.repository, { ...reason, digest, trigger, ...(requestedBy ? { requestedBy: requestedBy.actor } : {}) }));
      }
    }
    await Promise.all(audited);
    const report = { ...this.report(plans, reasons, acting, at, result, false), nextEvaluationAt: trigger === 'manual' ? await this.nextEvaluation().catch(() => null) : null };
    if (report.deletedTags > 0 || report.deletedManifests > 0) this.log.info({ tags: report.deletedTags, manifests: report.deletedManifests, bytesFreed: report.bytesFreed, trigger }, 'lifecycle policies deleted');
    return report;
  }

  private async plan(name?: string) {
    const all = await this.store.listPolicies();
    const enabled = all.filter((p) => p.status === 'enabled').map(compilePolicy);
    let acting: CompiledPolicy[];
    if (name !== undefined) {
      const named = all.find((p) => p.name === name);
      if (!named) throw new RegistryError('NOT_FOUND', `policy "${name}" not found`);
      acting = [compilePolicy(named)];
    } else acting = enabled;
    const at = Date.now();
    const plans: RepositoryPlan[] = [];
    const reasons = new Map<string, { tags: Map<string, DeletionReason>; manifests: Map<string, DeletionReason> }>();
    if (acting.length > 0) {
      for (const repository of await this.lifecycle.repositories()) {
        const actingHere = acting.filter((p) => p.repository.test(repository));
        if (actingHere.length === 0) continue;
        const keepingHere = enabled.filter((p) => p.repository.test(repository));
        const { plan, tagReasons, manifestReasons } = planPolicies(await this.lifecycle.snapshot(repository), actingHere, keepingHere, at);
        if (plan.tags.length === 0 && plan.manifests.length === 0 && plan.keptByLock.tags.length === 0 && plan.keptByLock.manifests.length === 0) continue;
        plans.push(plan);
        reasons.set(repository, { tags: tagReasons, manifests: manifestReasons });
      }
    }
    return { plans, reasons, acting: acting.map((p) => p.name), at: new Date(at).toISOString() };
  }

  private report(
    plans: RepositoryPlan[],
    reasons: Map<string, { tags: Map<string, DeletionReason>; manifests: Map<string, DeletionReason> }>,
    acting: string[],
    at: string,
    result: { repositories: Array<{ repository: string; tags: string[]; manifests: string[] }>; deletedTags: number; deletedManifests: number; bytesFreed: number; skipped: number; keptByLock: number },
    dryRun: boolean,
  ): PolicyEvaluation {
    const done = new Map(result.repositories.map((r) => [r.repository, r]));
    const repositories = plans
      .map((plan) => {
        const why = reasons.get(plan.repository)!;
        const deleted = done.get(plan.repository);
        const tags = new Set(deleted?.tags ?? []);
        const manifests = new Set(deleted?.manifests ?? []);
        return {
          repository: plan.repository,
          tags: plan.tags.filter((t) => tags.has(t.name)).map((t) => ({ tag: t.name, digest: t.digest, ...why.tags.get(t.name)! })),
          manifests: plan.manifests.filter((m) => manifests.has(m.digest)).map((m) => ({ digest: m.digest, mediaType: m.mediaType, size: m.size, ...why.manifests.get(m.digest)! })),
          keptByLock: plan.keptByLock,
        };
      })
      .filter((r) => r.tags.length > 0 || r.manifests.length > 0 || r.keptByLock.tags.length > 0 || r.keptByLock.manifests.length > 0)
      .sort((a, b) => a.repository.localeCompare(b.repository));
    return {
      dryRun,
      evaluatedAt: at,
      policies: acting,
      nextEvaluationAt: null,
      repositories,
      deletedTags: result.deletedTags,
      deletedManifests: result.deletedManifests,
      bytesFreed: result.bytesFreed,
      skipped: result.skipped,
      keptByLock: result.keptByLock,
    };
  }
}

/** The scheduled evaluation of every enabled policy, a recurring work item. */
export function policyHandler(service: PolicyService, intervalSeconds: number): WorkHandler {
  return {
    kind: policyKind,
    leaseSeconds: 3600,
    async handle() {
      await service.evaluate(undefined, 'schedule');
      return { runAt: new Date(Date.now() + intervalSeconds * 1000) };
    },
  };
}
