import type { FastifyBaseLogger } from 'fastify';
import type { WorkHandler } from '../background/background-worker.js';
import type { RegistryEvents } from '../events/registry-events.js';
import type { JournalEntry } from '../metadata/metadata-store.js';
import type { SoftDeletePolicy } from '../metadata/sql/soft-delete-archive.js';
import { RegistryError } from '../registry/errors.js';
import { assertRepositoryName, isTag, parseDigest } from '../registry/reference.js';

export type { SoftDeletePolicy } from '../metadata/sql/soft-delete-archive.js';

export const softDeleteExpiryKind = 'soft-delete-expiry';
export const softDeleteDays = { min: 1, max: 90 } as const;

export interface DeletedRepository {
  name: string;
  /** Restorable manifests. */
  manifests: number;
  tags: number;
  lastDeletedAt: string;
}

export interface DeletedManifest {
  repository: string;
  digest: string;
  mediaType: string;
  size: number;
  /** Tags it had when it went (restorable with it). */
  tags: string[];
  createdAt: string;
  deletedAt: string;
  expiresAt: string;
}

export interface DeletedTag {
  repository: string;
  tag: string;
  digest: string;
  createdAt: string;
  deletedAt: string;
  expiresAt: string;
  /** Whether the manifest it pointed at is still live (an untag), or only in the archive. */
  manifestLive: boolean;
}

export interface RestoreRequest {
  repository: string;
  /** The tag to put back; without it the digest comes back with the tags it had that are free now. */
  tag: string | null;
  /** Default: the digest the tag pointed at when it was last deleted. */
  digest: string | null;
  /** Move the tag even if it now points at another manifest. */
  force: boolean;
}

export interface RestoreResult {
  repository: string;
  digest: string;
  /** Tags put back. */
  tags: string[];
  /** Archived tags left alone because they now point at another manifest. */
  skippedTags: string[];
  /** Manifests brought back from the archive (the digest and, for an index, its children). */
  manifestsRestored: string[];
}

/** What a restore brought back, for its journal entries (webhooks and triggers see a push). */
export interface Restored {
  manifests: Array<{ digest: string; mediaType: string; size: number }>;
  tags: Array<{ tag: string; digest: string; mediaType: string; size: number; previousDigest: string | null }>;
}

/** A restore that cannot be done: `unknown` (nothing archived), `conflict` (tag elsewhere), `gone` (blobs or children collected). */
export class RestoreRefused extends Error {
  constructor(
    readonly reason: 'unknown' | 'conflict' | 'gone',
    message: string,
    readonly detail: unknown,
  ) {
    super(message);
  }
}

export interface SoftDeleteStore {
  policy(): Promise<SoftDeletePolicy>;
  setPolicy(policy: SoftDeletePolicy): Promise<void>;
  deletedRepositories(): Promise<Array<Omit<DeletedRepository, never>>>;
  deletedManifests(repository: string): Promise<Array<Omit<DeletedManifest, 'expiresAt'>>>;
  deletedTags(repository: string, tag: string | null): Promise<Array<Omit<DeletedTag, 'expiresAt'>>>;
  /** In one transaction, with the journal entries; throws RestoreRefused. */
  restore(request: RestoreRequest, journal: (restored: Restored) => JournalEntry[]): Promise<RestoreResult>;
  /** Removes archived content deleted before `cutoff` (its blobs go to the collector's review). */
  expire(cutoff: string, limit: number): Promise<{ manifests: number; tags: number }>;
}

/**
 * Soft delete (ACR's `az acr config soft-delete`): while on, every delete (the user's, purge's,
 * retention's, a policy's) is archived by the deleting transaction and restorable for `days`
 * days, counted with the current value (as ACR does), then purged by the expiry work item.
 */
export class SoftDeleteService {
  constructor(
    private readonly store: SoftDeleteStore,
    private readonly events: RegistryEvents,
    /** A day's length: 86 400 000, shorter only in tests (BERTH_SOFT_DELETE_DAY_SECONDS). */
    readonly dayMs: number,
  ) {}

  policy(): Promise<SoftDeletePolicy> {
    return this.store.policy();
  }

  async setPolicy(policy: SoftDeletePolicy): Promise<SoftDeletePolicy> {
    if (!Number.isInteger(policy.days) || policy.days < softDeleteDays.min || policy.days > softDeleteDays.max) {
      throw new RegistryError('INVALID_REQUEST', `days must be a whole number from ${softDeleteDays.min} to ${softDeleteDays.max}`, { days: policy.days });
    }
    await this.store.setPolicy(policy);
    return policy;
  }

  deletedRepositories(): Promise<DeletedRepository[]> {
    return this.store.deletedRepositories();
  }

  async deletedManifests(repository: string): Promise<DeletedManifest[]> {
    assertRepositoryName(repository);
    const expires = await this.expiresAt();
    return (await this.store.deletedManifests(repository)).map((m) => ({ ...m, expiresAt: expires(m.deletedAt) }));
  }

  async deletedTags(repository: string, tag: string | null): Promise<DeletedTag[]> {
    assertRepositoryName(repository);
    if (tag !== null && !isTag(tag)) throw new RegistryError('TAG_INVALID', 'invalid tag', { tag });
    const expires = await this.expiresAt();
    return (await this.store.deletedTags(repository, tag)).map((t) => ({ ...t, expiresAt: expires(t.deletedAt) }));
  }

  async restore(request: RestoreRequest): Promise<RestoreResult> {
    assertRepositoryName(request.repository);
    if (request.tag !== null && !isTag(request.tag)) throw new RegistryError('TAG_INVALID', 'invalid tag', { tag: request.tag });
    if (request.digest !== null) parseDigest(request.digest);
    if (request.tag === null && request.digest === null) throw new RegistryError('INVALID_REQUEST', 'name a tag, a digest, or both');
    const { repository } = request;
    let result: RestoreResult;
    try {
      result = await this.store.restore(request, (restored) => [
        // Children first, untagged, then the tags: what a push of the same content journals.
        ...restored.manifests
          .filter((m) => !restored.tags.some((t) => t.digest === m.digest))
          .map((m) => this.events.journalEntry('manifest.pushed', { repository, digest: m.digest, tag: null, mediaType: m.mediaType, size: m.size, previousDigest: null })),
        ...restored.tags.map((t) => this.events.journalEntry('manifest.pushed', { repository, digest: t.digest, tag: t.tag, mediaType: t.mediaType, size: t.size, previousDigest: t.previousDigest })),
      ]);
    } catch (error) {
      if (!(error instanceof RestoreRefused)) throw error;
      if (error.reason === 'conflict') throw new RegistryError('CONFLICT', error.message, error.detail);
      if (error.reason === 'gone') throw new RegistryError('CONFLICT', error.message, error.detail, { status: 410 });
      throw new RegistryError('MANIFEST_UNKNOWN', error.message, error.detail);
    }
    this.events.committed();
    return result;
  }

  /** Removes what expired (deleted before now - days); returns how much. */
  async expire(): Promise<{ manifests: number; tags: number }> {
    const policy = await this.store.policy();
    const cutoff = new Date(Date.now() - policy.days * this.dayMs).toISOString();
    const total = { manifests: 0, tags: 0 };
    for (;;) {
      const batch = await this.store.expire(cutoff, 500);
      total.manifests += batch.manifests;
      total.tags += batch.tags;
      if (batch.manifests + batch.tags < 500) return total;
    }
  }

  private async expiresAt(): Promise<(deletedAt: string) => string> {
    const { days } = await this.store.policy();
    return (deletedAt) => new Date(Date.parse(deletedAt) + days * this.dayMs).toISOString();
  }
}

/**
 * The recurring `soft-delete-expiry` work item: archived content past its days goes. Runs about
 * every 1/288 of a day (5 minutes; ACR purges once a day), at least every second, so a short test
 * day expires promptly. It runs whether soft delete is on or off: what was archived while it was
 * on still expires after it is switched off.
 */
export function softDeleteExpiryHandler(service: SoftDeleteService, log: FastifyBaseLogger): WorkHandler {
  const intervalMs = Math.max(1000, Math.min(300_000, Math.round(service.dayMs / 288)));
  return {
    kind: softDeleteExpiryKind,
    leaseSeconds: 300,
    async handle() {
      const expired = await service.expire();
      if (expired.manifests + expired.tags > 0) log.info(expired, 'soft delete: expired archived manifests and tags');
      return { runAt: new Date(Date.now() + intervalMs) };
    },
  };
}
