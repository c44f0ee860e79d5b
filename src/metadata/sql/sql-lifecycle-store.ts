import { sql, type Kysely } from 'kysely';
import type { GcCandidate, GcRunRecord, LifecycleStore, RetentionPolicy, StaleUpload } from '../../lifecycle/lifecycle-store.js';
import type { RepositorySnapshot, SnapshotManifest } from '../../lifecycle/purge-plan.js';
import type { Database } from './schema.js';
import { archiveReferences } from './soft-delete-archive.js';

/** What purge, retention and policies leave alone: ACR's write lock includes the delete lock. */
const isLocked = (row: { delete_enabled: number; write_enabled: number }): boolean => Number(row.delete_enabled) === 0 || Number(row.write_enabled) === 0;

const retentionKey = 'retention.untaggedManifests';
const defaultRetention: RetentionPolicy = { status: 'disabled', days: 7, type: 'UntaggedManifests' };

export class SqlLifecycleStore implements LifecycleStore {
  constructor(private readonly db: Kysely<Database>) {}

  async repositories(): Promise<string[]> {
    return (await this.db.selectFrom('repositories').select('name').orderBy('name').execute()).map((r) => r.name);
  }

  async repositoriesWithUntagged(cutoff: string): Promise<string[]> {
    const rows = await this.db.selectFrom('manifests').select('repository').distinct().where('untagged_at', 'is not', null).where('untagged_at', '<', cutoff).execute();
    return rows.map((r) => r.repository);
  }

  async snapshot(repository: string): Promise<RepositorySnapshot> {
    const [repo, tags, manifests, references] = await Promise.all([
      this.db.selectFrom('repositories').select(['delete_enabled', 'write_enabled']).where('name', '=', repository).executeTakeFirst(),
      this.db.selectFrom('tags').select(['name', 'digest', 'updated_at', 'last_pulled_at', 'delete_enabled', 'write_enabled']).where('repository', '=', repository).execute(),
      this.db
        .selectFrom('manifests')
        .select(['digest', 'media_type', 'size', 'updated_at', 'untagged_at', 'last_pulled_at', 'subject_digest', 'delete_enabled', 'write_enabled'])
        .where('repository', '=', repository)
        .execute(),
      this.db.selectFrom('manifest_references').select(['parent_digest', 'child_digest', 'child_kind']).where('repository', '=', repository).execute(),
    ]);
    const byDigest = new Map<string, SnapshotManifest>(
      manifests.map((m) => [
        m.digest,
        {
          digest: m.digest,
          mediaType: m.media_type,
          size: Number(m.size),
          updatedAt: m.updated_at,
          untaggedAt: m.untagged_at,
          lastPulledAt: m.last_pulled_at,
          subject: m.subject_digest,
          childManifests: [],
          blobs: [],
          locked: isLocked(m),
        },
      ]),
    );
    for (const r of references) {
      const parent = byDigest.get(r.parent_digest);
      if (!parent) continue;
      (r.child_kind === 'manifest' ? parent.childManifests : parent.blobs).push(r.child_digest);
    }
    return {
      repository,
      locked: repo ? isLocked(repo) : false,
      tags: tags.map((t) => ({ name: t.name, digest: t.digest, updatedAt: t.updated_at, lastPulledAt: t.last_pulled_at, locked: isLocked(t) })),
      manifests: [...byDigest.values()],
    };
  }

  async unlock(repository: string, target: { tag: string } | { digest: string }): Promise<void> {
    const enabled = { delete_enabled: 1, write_enabled: 1 };
    if ('tag' in target) await this.db.updateTable('tags').set(enabled).where('repository', '=', repository).where('name', '=', target.tag).execute();
    else await this.db.updateTable('manifests').set(enabled).where('repository', '=', repository).where('digest', '=', target.digest).execute();
  }

  async blobParents(digests: string[]): Promise<Map<string, Array<{ repository: string; digest: string }>>> {
    const parents = new Map<string, Array<{ repository: string; digest: string }>>();
    for (const chunk of chunks([...new Set(digests)], 500)) {
      const rows = await this.db
        .selectFrom('manifest_references')
        .select(['child_digest', 'repository', 'parent_digest'])
        .where('child_kind', '=', 'blob')
        .where('child_digest', 'in', chunk)
        .execute();
      for (const r of rows) parents.set(r.child_digest, [...(parents.get(r.child_digest) ?? []), { repository: r.repository, digest: r.parent_digest }]);
    }
    return parents;
  }

  async blobSizes(digests: string[]): Promise<Map<string, number>> {
    const sizes = new Map<string, number>();
    for (const chunk of chunks([...new Set(digests)], 500)) {
      for (const r of await this.db.selectFrom('blobs').select(['digest', 'size']).where('digest', 'in', chunk).execute()) sizes.set(r.digest, Number(r.size));
    }
    return sizes;
  }

  async retentionPolicy(): Promise<RetentionPolicy> {
    const row = await this.db.selectFrom('settings').select('value').where('key', '=', retentionKey).executeTakeFirst();
    return row ? { ...defaultRetention, ...(JSON.parse(row.value) as Partial<RetentionPolicy>) } : defaultRetention;
  }

  async setRetentionPolicy(policy: RetentionPolicy): Promise<void> {
    const value = JSON.stringify(policy);
    await this.db.insertInto('settings').values({ key: retentionKey, value }).onConflict((oc) => oc.column('key').doUpdateSet({ value })).execute();
  }

  async claimReviews(owner: string, graceSeconds: number, leaseSeconds: number, limit: number): Promise<GcCandidate[]> {
    const now = new Date();
    const dueBefore = new Date(now.getTime() - graceSeconds * 1000).toISOString();
    const until = new Date(now.getTime() + leaseSeconds * 1000).toISOString();
    return this.db.transaction().execute(async (trx) => {
      const due = await trx
        .selectFrom('gc_blob_reviews')
        .select(['digest', 'version'])
        .where('due_from', '<=', dueBefore)
        .where((eb) => eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<', now.toISOString())]))
        .orderBy('due_from')
        .limit(limit)
        .execute();
      if (due.length === 0) return [];
      // The same conditions again in the update: on PostgreSQL (FOR UPDATE SKIP LOCKED later) two
      // servers never both win a row; on SQLite the immediate transaction already serialises.
      await trx
        .updateTable('gc_blob_reviews')
        .set({ claimed_by: owner, claimed_until: until })
        .where('digest', 'in', due.map((d) => d.digest))
        .where((eb) => eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<', now.toISOString())]))
        .execute();
      const claimed = await trx.selectFrom('gc_blob_reviews').select(['digest', 'version']).where('digest', 'in', due.map((d) => d.digest)).where('claimed_by', '=', owner).execute();
      const sizes = await trx.selectFrom('blobs').select(['digest', 'size']).where('digest', 'in', claimed.map((c) => c.digest)).execute();
      const size = new Map(sizes.map((s) => [s.digest, Number(s.size)]));
      return claimed.map((c) => ({ digest: c.digest, version: Number(c.version), size: size.get(c.digest) ?? null }));
    });
  }

  async dueReviews(graceSeconds: number, limit: number): Promise<GcCandidate[]> {
    const dueBefore = new Date(Date.now() - graceSeconds * 1000).toISOString();
    const rows = await this.db
      .selectFrom('gc_blob_reviews as r')
      .leftJoin('blobs as b', 'b.digest', 'r.digest')
      .select(['r.digest', 'r.version', 'b.size'])
      .where('r.due_from', '<=', dueBefore)
      .orderBy('r.due_from')
      .limit(limit)
      .execute();
    return rows.map((r) => ({ digest: r.digest, version: Number(r.version), size: r.size === null ? null : Number(r.size) }));
  }

  async isReferenced(digest: string): Promise<boolean> {
    const row = await this.db.selectFrom('manifest_references').select('child_digest').where('child_digest', '=', digest).where('child_kind', '=', 'blob').executeTakeFirst();
    return row !== undefined || (await archiveReferences(this.db, digest));
  }

  async sweep(owner: string, candidate: GcCandidate, removeBytes: () => Promise<void>): Promise<'deleted' | 'kept' | 'touched'> {
    return this.db.transaction().execute(async (trx) => {
      const review = await trx.selectFrom('gc_blob_reviews').select(['version', 'claimed_by']).where('digest', '=', candidate.digest).executeTakeFirst();
      if (!review || review.claimed_by !== owner || Number(review.version) !== candidate.version) {
        if (review?.claimed_by === owner) await trx.updateTable('gc_blob_reviews').set({ claimed_by: null, claimed_until: null }).where('digest', '=', candidate.digest).execute();
        return 'touched';
      }
      const referenced = await trx.selectFrom('manifest_references').select('child_digest').where('child_digest', '=', candidate.digest).where('child_kind', '=', 'blob').executeTakeFirst();
      await trx.deleteFrom('gc_blob_reviews').where('digest', '=', candidate.digest).execute();
      if (referenced || (await archiveReferences(trx, candidate.digest))) return 'kept';
      await trx.deleteFrom('repository_blobs').where('digest', '=', candidate.digest).execute();
      await trx.deleteFrom('blobs').where('digest', '=', candidate.digest).execute();
      await removeBytes();
      return 'deleted';
    });
  }

  async release(owner: string, digest: string): Promise<void> {
    await this.db.updateTable('gc_blob_reviews').set({ claimed_by: null, claimed_until: null }).where('digest', '=', digest).where('claimed_by', '=', owner).execute();
  }

  async staleUploads(olderThan: string, limit: number): Promise<StaleUpload[]> {
    return this.db.selectFrom('uploads').select(['id', 'repository']).where('updated_at', '<', olderThan).orderBy('updated_at').limit(limit).execute();
  }

  async recordGcRun(run: Omit<GcRunRecord, 'id'>): Promise<GcRunRecord> {
    const row = await this.db
      .insertInto('gc_runs')
      .values({
        started_at: run.startedAt,
        finished_at: run.finishedAt,
        trigger: run.trigger,
        dry_run: run.dryRun ? 1 : 0,
        candidates: run.candidates,
        blobs_deleted: run.blobsDeleted,
        bytes_freed: run.bytesFreed,
        uploads_deleted: run.uploadsDeleted,
        duration_ms: run.durationMs,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    // Runs are a history for `gc show`, not an archive.
    await this.db.deleteFrom('gc_runs').where('id', '<=', Number(row.id) - 100).execute();
    return { id: Number(row.id), ...run };
  }

  async gcRuns(limit: number): Promise<GcRunRecord[]> {
    const rows = await this.db.selectFrom('gc_runs').selectAll().orderBy('id', 'desc').limit(limit).execute();
    return rows.map((r) => ({
      id: Number(r.id),
      startedAt: r.started_at,
      finishedAt: r.finished_at,
      trigger: r.trigger,
      dryRun: Number(r.dry_run) === 1,
      candidates: Number(r.candidates),
      blobsDeleted: Number(r.blobs_deleted),
      bytesFreed: Number(r.bytes_freed),
      uploadsDeleted: Number(r.uploads_deleted),
      durationMs: Number(r.duration_ms),
    }));
  }

  async pendingReviews(): Promise<number> {
    const row = await sql<{ n: number }>`select count(*) as n from gc_blob_reviews`.execute(this.db);
    return Number(row.rows[0]?.n ?? 0);
  }
}

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
