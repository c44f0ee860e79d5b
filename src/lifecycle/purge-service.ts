import { RegistryError } from '../registry/errors.js';
import type { ManifestService } from '../registry/manifest-service.js';
import type { LifecycleStore } from './lifecycle-store.js';
import { parseAgo, parseFilter, PurgeArgumentError, repositoryMatcher, tagMatcher } from './purge-options.js';
import { planRepository, type PlanRules, type RepositoryPlan } from './purge-plan.js';

export interface PurgeRequest {
  filters: string[];
  ago?: string;
  keep?: number;
  untagged?: boolean;
  untaggedOnly?: boolean;
  dryRun?: boolean;
  /** Locked tags and manifests are unlocked, then deleted (ACR's); a locked repository still keeps everything. */
  includeLocked?: boolean;
  concurrency?: number;
}

export interface PurgeResult {
  dryRun: boolean;
  repositories: Array<{ repository: string; tags: string[]; manifests: string[] }>;
  deletedTags: number;
  deletedManifests: number;
  /** Manifest bytes plus the blobs no remaining manifest references (what the collector then frees). */
  bytesFreed: number;
  /** Planned deletions that something kept when their turn came (a tag moved, a new parent, a new lock). */
  skipped: number;
  /** Tags and manifests the rules chose but a lock kept. */
  keptByLock: number;
}

export interface PurgeSelection {
  /** Repository → tag regex (null: untagged-only over that repository). */
  repositories: Map<string, RegExp | null>;
  rules: Omit<PlanRules, 'tags'>;
}

/** Server-side `acr purge`: plans from a snapshot per repository, then deletes through the manifest service. */
export class PurgeService {
  constructor(
    private readonly store: LifecycleStore,
    private readonly manifests: ManifestService,
  ) {}

  /** Which repositories a request touches, and its rules; throws PurgeArgumentError on bad input. */
  async select(request: PurgeRequest): Promise<PurgeSelection> {
    if (request.untagged && request.untaggedOnly) throw new PurgeArgumentError('--untagged and --untagged-only cannot be used together');
    if (!request.untaggedOnly && request.filters.length === 0) throw new PurgeArgumentError('--filter is required (unless --untagged-only)');
    if (!request.untaggedOnly && request.ago === undefined) throw new PurgeArgumentError('--ago is required (unless --untagged-only)');
    const keep = request.keep ?? 0;
    if (!Number.isInteger(keep) || keep < 0) throw new PurgeArgumentError('--keep takes a whole number of 0 or more');
    const agoMs = request.ago === undefined ? 0 : parseAgo(request.ago);
    const filters = request.filters.map(parseFilter);
    const all = await this.store.repositories();
    const tagRegexes = new Map<string, string[]>();
    if (filters.length === 0) for (const repository of all) tagRegexes.set(repository, []);
    for (const filter of filters) {
      const matcher = repositoryMatcher(filter.repository);
      for (const repository of all) if (matcher.test(repository)) tagRegexes.set(repository, [...(tagRegexes.get(repository) ?? []), filter.tag]);
    }
    const repositories = new Map<string, RegExp | null>();
    for (const [repository, tags] of tagRegexes) repositories.set(repository, request.untaggedOnly || tags.length === 0 ? null : tagMatcher(tags));
    return {
      repositories,
      rules: { cutoffMs: Date.now() - agoMs, keep, untagged: request.untagged ?? false, untaggedOnly: request.untaggedOnly ?? false, untaggedAge: 'updated', includeLocked: request.includeLocked ?? false },
    };
  }

  async purge(request: PurgeRequest, selection?: PurgeSelection): Promise<PurgeResult> {
    const chosen = selection ?? (await this.select(request));
    const plans: RepositoryPlan[] = [];
    for (const [repository, tags] of chosen.repositories) plans.push(planRepository(await this.store.snapshot(repository), { ...chosen.rules, tags }));
    return this.execute(plans, request.dryRun ?? false, Math.min(32, Math.max(1, request.concurrency ?? 4)));
  }

  /** Carries out plans (or, dry, only reports them); shared with the retention policy. */
  async execute(plans: RepositoryPlan[], dryRun: boolean, concurrency: number): Promise<PurgeResult> {
    const planned = plans.flatMap((p) => p.manifests.map((m) => ({ repository: p.repository, manifest: m })));
    const parents = await this.store.blobParents(planned.flatMap((p) => p.manifest.blobs));
    const result: PurgeResult = {
      dryRun,
      repositories: [],
      deletedTags: 0,
      deletedManifests: 0,
      bytesFreed: 0,
      skipped: 0,
      keptByLock: plans.reduce((n, p) => n + p.keptByLock.tags.length + p.keptByLock.manifests.length, 0),
    };
    const gone = new Set<string>();
    const work = plans.map((plan) => async () => {
      const done = { repository: plan.repository, tags: [] as string[], manifests: [] as string[] };
      for (const tag of plan.tags) {
        if (!dryRun && tag.locked) await this.store.unlock(plan.repository, { tag: tag.name });
        if (dryRun || (await unlessLocked(this.manifests.deleteTagIfAt(plan.repository, tag.name, tag.digest)))) done.tags.push(tag.name);
        else result.skipped++;
      }
      for (const manifest of plan.manifests) {
        if (!dryRun && manifest.locked) await this.store.unlock(plan.repository, { digest: manifest.digest });
        if (dryRun || (await unlessLocked(this.manifests.deleteIfUnused(plan.repository, manifest.digest)))) {
          done.manifests.push(manifest.digest);
          gone.add(`${plan.repository}@${manifest.digest}`);
          result.bytesFreed += manifest.size;
        } else result.skipped++;
      }
      if (done.tags.length > 0 || done.manifests.length > 0) result.repositories.push(done);
      result.deletedTags += done.tags.length;
      result.deletedManifests += done.manifests.length;
    });
    await pool(work, concurrency);
    result.repositories.sort((a, b) => a.repository.localeCompare(b.repository));
    // A blob is freed when every manifest that referenced it is gone.
    const candidates = [...parents.entries()].filter(([, ps]) => ps.every((p) => gone.has(`${p.repository}@${p.digest}`))).map(([digest]) => digest);
    for (const size of (await this.store.blobSizes(candidates)).values()) result.bytesFreed += size;
    return result;
  }
}

/** A lock set after planning refuses the delete (DENIED); purge then skips it, as anything else that keeps it. */
async function unlessLocked(deletion: Promise<boolean>): Promise<boolean> {
  try {
    return await deletion;
  } catch (error) {
    if (error instanceof RegistryError && error.code === 'DENIED') return false;
    throw error;
  }
}

async function pool(work: Array<() => Promise<void>>, concurrency: number): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(concurrency, work.length) }, async () => {
    while (next < work.length) await work[next++]!();
  });
  await Promise.all(lanes);
}
