import { sql, type Kysely, type Selectable } from 'kysely';
import type {
  DeletedManifest,
  JournalEntry,
  JournaledEvent,
  ManifestChild,
  LinkedBlob,
  ManifestRecord,
  MetadataStore,
  Page,
  PushLocks,
  ReferrerDescriptor,
  StoredManifest,
  TagRecord,
  UploadSession,
} from '../metadata-store.js';
import type { Database, ManifestsTable } from './schema.js';
import { prepareQueueBlobReview, queueBlobReviews, touchBlobReviews } from './gc-review-queue.js';
import { assertManifestDeletable, assertRepositoryContentDeletable, assertRepositoryDeletable, assertRepositoryWritable, assertTagDeletable } from './sql-locks.js';
import { lockedError } from '../../registry/locks.js';
import { archiveManifest, archiveTag } from './soft-delete-archive.js';
import { PreparedQuery } from './prepared-query.js';

const now = (): string => new Date().toISOString();
const isOn = (flag: number | null): boolean => Number(flag) === 1;

/** MetadataStore on any SQL database Kysely speaks (SQLite by default, PostgreSQL for scale-out). */
export class SqlMetadataStore implements MetadataStore {
  /** The pull path's reads, compiled once (see PreparedQuery). */
  private readonly pullQueries: ReturnType<typeof preparePullQueries>;
  /** A blob push's statements, compiled once: a 1 MiB push spent more in Kysely than in SQLite. */
  private readonly uploadQueries: ReturnType<typeof prepareUploadQueries>;

  constructor(private readonly db: Kysely<Database>) {
    this.pullQueries = preparePullQueries(db);
    this.uploadQueries = prepareUploadQueries(db);
  }

  async listRepositories(page: Page): Promise<string[]> {
    let query = this.db.selectFrom('repositories').select('name').where('list_enabled', '=', 1).orderBy('name').limit(page.limit);
    if (page.last !== undefined) query = query.where('name', '>', page.last);
    return (await query.execute()).map((r) => r.name);
  }

  async repositoryExists(repository: string): Promise<boolean> {
    const row = await this.db.selectFrom('repositories').select('name').where('name', '=', repository).executeTakeFirst();
    return row !== undefined;
  }

  async linkBlob(repository: string, digest: string, size: number): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      // A link no manifest comes to use (an abandoned push) is garbage after the grace period.
      await this.insertBlobLink(trx, repository, digest, size, 'linked');
    });
  }

  async finishUpload(session: UploadSession, digest: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await this.insertBlobLink(trx, session.repository, digest, session.size, 'uploaded');
      await this.uploadQueries.deleteUpload.executeIn(trx, session.id);
    });
  }

  /** Links a blob into a repository (both created as needed) and queues it for review (`reason`). */
  private async insertBlobLink(trx: Kysely<Database>, repository: string, digest: string, size: number, reason: string): Promise<void> {
    const at = now();
    const queries = this.uploadQueries;
    await queries.ensureRepository.executeIn(trx, repository, at);
    await queries.insertBlob.executeIn(trx, digest, size, at);
    await queries.insertRepositoryBlob.executeIn(trx, repository, digest, at);
    await queries.queueReview.executeIn(trx, digest, at, reason);
  }

  async linkedBlobSize(repository: string, digest: string): Promise<number | null> {
    const row = await this.db
      .selectFrom('repository_blobs as rb')
      .innerJoin('blobs as b', 'b.digest', 'rb.digest')
      .select('b.size')
      .where('rb.repository', '=', repository)
      .where('rb.digest', '=', digest)
      .executeTakeFirst();
    return row ? Number(row.size) : null;
  }

  async linkedBlob(repository: string, digest: string): Promise<LinkedBlob | null> {
    const row = await this.pullQueries.linkedBlob.first(repository, digest);
    return row ? { size: Number(row.size), repositoryReadEnabled: Number(row.read_enabled) === 1 } : null;
  }

  async repositoriesWithBlob(digest: string, limit: number): Promise<string[]> {
    const rows = await this.db.selectFrom('repository_blobs').select('repository').where('digest', '=', digest).orderBy('repository').limit(limit).execute();
    return rows.map((r) => r.repository);
  }

  async unlinkBlob(repository: string, digest: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      await assertRepositoryDeletable(trx, repository);
      const result = await trx.deleteFrom('repository_blobs').where('repository', '=', repository).where('digest', '=', digest).executeTakeFirst();
      if (result.numDeletedRows === 0n) return false;
      await queueBlobReviews(trx, [digest], 'unlinked');
      return true;
    });
  }

  async touchBlobs(digests: string[]): Promise<void> {
    if (digests.length === 0) return;
    // One digest (every blob HEAD and GET): the read that finds nothing pending, compiled once.
    if (digests.length === 1 && !(await this.pullQueries.pendingReview.first(digests[0]!))) return;
    await touchBlobReviews(this.db, digests);
  }

  async createUpload(session: UploadSession): Promise<void> {
    await this.uploadQueries.createUpload.rows(session.id, session.repository, session.size, session.createdAt, session.updatedAt);
  }

  async getUpload(id: string): Promise<UploadSession | null> {
    const row = await this.uploadQueries.getUpload.first(id);
    if (!row) return null;
    return {
      id: row.id,
      repository: row.repository,
      size: Number(row.size),
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    };
  }

  async setUploadSize(id: string, size: number): Promise<void> {
    await this.uploadQueries.setUploadSize.rows(id, size, now());
  }

  async deleteUpload(id: string): Promise<void> {
    await this.uploadQueries.deleteUpload.rows(id);
  }

  async countUploads(): Promise<number> {
    const row = await this.db.selectFrom('uploads').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  async missingChildren(repository: string, children: ManifestChild[]): Promise<ManifestChild[]> {
    const blobDigests = children.filter((c) => c.kind === 'blob').map((c) => c.digest);
    const manifestDigests = children.filter((c) => c.kind === 'manifest').map((c) => c.digest);
    const present = new Set<string>();
    if (blobDigests.length > 0) {
      const rows = await this.db
        .selectFrom('repository_blobs')
        .select('digest')
        .where('repository', '=', repository)
        .where('digest', 'in', blobDigests)
        .execute();
      for (const r of rows) present.add(`blob:${r.digest}`);
    }
    if (manifestDigests.length > 0) {
      const rows = await this.db
        .selectFrom('manifests')
        .select('digest')
        .where('repository', '=', repository)
        .where('digest', 'in', manifestDigests)
        .execute();
      for (const r of rows) present.add(`manifest:${r.digest}`);
    }
    return children.filter((c) => !present.has(`${c.kind}:${c.digest}`));
  }

  async putManifest(
    manifest: ManifestRecord,
    children: ManifestChild[],
    tag: string | null,
    journal?: (previousTagDigest: string | null) => JournalEntry[],
  ): Promise<{ previousTagDigest: string | null }> {
    const at = now();
    const { repository, digest } = manifest;
    return this.db.transaction().execute(async (trx) => {
      let previousTagDigest: string | null = null;
      await ensureRepository(trx, repository, at);
      await assertRepositoryWritable(trx, repository);
      if (tag !== null) {
        const previous = await trx.selectFrom('tags').select(['digest', 'write_enabled']).where('repository', '=', repository).where('name', '=', tag).executeTakeFirst();
        if (previous && previous.digest !== digest) {
          // Re-pushing the digest a locked tag already names changes nothing, so it is allowed.
          if (Number(previous.write_enabled) === 0) throw lockedError({ kind: 'tag', repository, tag }, 'writeEnabled');
          previousTagDigest = previous.digest;
        }
      }
      const inserted = await trx
        .insertInto('manifests')
        .values({
          repository,
          digest,
          media_type: manifest.mediaType,
          size: manifest.size,
          content: manifest.content,
          artifact_type: manifest.artifactType,
          config_media_type: manifest.configMediaType,
          config_digest: manifest.configDigest,
          subject_digest: manifest.subjectDigest,
          annotations: manifest.annotations ? JSON.stringify(manifest.annotations) : null,
          platform_os: manifest.platform?.os ?? null,
          platform_architecture: manifest.platform?.architecture ?? null,
          platform_variant: manifest.platform?.variant ?? null,
          created_at: at,
          updated_at: at,
          untagged_at: tag === null ? at : null,
        })
        .onConflict((oc) => oc.columns(['repository', 'digest']).doUpdateSet({ updated_at: at }))
        .executeTakeFirst();
      const uniqueChildren = [...new Map(children.map((c) => [c.digest, c])).values()];
      if (inserted.numInsertedOrUpdatedRows && uniqueChildren.length > 0) {
        await trx
          .insertInto('manifest_references')
          .values(uniqueChildren.map((c) => ({ repository, parent_digest: digest, child_digest: c.digest, child_kind: c.kind })))
          .onConflict((oc) => oc.columns(['repository', 'parent_digest', 'child_digest']).doNothing())
          .execute();
      }
      if (tag !== null) {
        await trx
          .insertInto('tags')
          .values({ repository, name: tag, digest, created_at: at, updated_at: at })
          .onConflict((oc) =>
            oc
              .columns(['repository', 'name'])
              .doUpdateSet({ digest, updated_at: at })
              .where('tags.digest', '!=', digest),
          )
          .execute();
        await trx.updateTable('manifests').set({ untagged_at: null }).where('repository', '=', repository).where('digest', '=', digest).execute();
        if (previousTagDigest) await markIfUntagged(trx, repository, previousTagDigest, at);
      }
      await trx.updateTable('repositories').set({ updated_at: at }).where('name', '=', repository).execute();
      if (journal) await appendJournal(trx, journal(previousTagDigest), at);
      return { previousTagDigest };
    });
  }

  async getManifest(repository: string, digest: string): Promise<StoredManifest | null> {
    const row = await this.pullQueries.manifestByDigest.first(repository, digest);
    return row ? { ...toStoredManifest(row), readEnabled: { repository: isOn(row.repository_read_enabled), manifest: isOn(row.read_enabled) } } : null;
  }

  async getManifestByTag(repository: string, tag: string): Promise<StoredManifest | null> {
    const row = await this.pullQueries.manifestByTag.first(repository, tag);
    if (!row) return null;
    return { ...toStoredManifest(row), readEnabled: { repository: isOn(row.repository_read_enabled), manifest: isOn(row.read_enabled), tag: isOn(row.tag_read_enabled) } };
  }

  async deleteManifest(repository: string, digest: string, journal: JournalEntry[] = []): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const manifest = await trx.selectFrom('manifests').select(['write_enabled', 'delete_enabled']).where('repository', '=', repository).where('digest', '=', digest).executeTakeFirst();
      if (!manifest) return false;
      await assertRepositoryDeletable(trx, repository);
      await assertManifestDeletable(trx, repository, digest, manifest);
      await archiveManifest(trx, repository, digest);
      await queueChildBlobs(trx, repository, digest);
      await trx.deleteFrom('tags').where('repository', '=', repository).where('digest', '=', digest).execute();
      await trx
        .deleteFrom('manifest_references')
        .where('repository', '=', repository)
        .where('parent_digest', '=', digest)
        .execute();
      const result = await trx
        .deleteFrom('manifests')
        .where('repository', '=', repository)
        .where('digest', '=', digest)
        .executeTakeFirst();
      const deleted = result.numDeletedRows > 0n;
      if (deleted) await appendJournal(trx, journal, now());
      return deleted;
    });
  }

  async listTags(repository: string, page: Page): Promise<string[]> {
    let query = this.db
      .selectFrom('tags')
      .select('name')
      .where('repository', '=', repository)
      .where('list_enabled', '=', 1)
      .orderBy('name')
      .limit(page.limit);
    if (page.last !== undefined) query = query.where('name', '>', page.last);
    return (await query.execute()).map((r) => r.name);
  }

  async tagsOf(repository: string, digest: string): Promise<string[]> {
    const rows = await this.db.selectFrom('tags').select('name').where('repository', '=', repository).where('digest', '=', digest).orderBy('name').execute();
    return rows.map((r) => r.name);
  }

  async getTag(repository: string, tag: string): Promise<TagRecord | null> {
    const row = await this.db
      .selectFrom('tags')
      .selectAll()
      .where('repository', '=', repository)
      .where('name', '=', tag)
      .executeTakeFirst();
    return row ? { name: row.name, digest: row.digest, createdAt: row.created_at, updatedAt: row.updated_at } : null;
  }

  async deleteTag(repository: string, tag: string, journal: JournalEntry[] = [], expectedDigest?: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const row = await trx.selectFrom('tags').select(['digest', 'write_enabled', 'delete_enabled']).where('repository', '=', repository).where('name', '=', tag).executeTakeFirst();
      // A tag that moved since the caller looked (a purge plan) is not the tag it meant.
      if (!row || (expectedDigest !== undefined && row.digest !== expectedDigest)) return false;
      await assertRepositoryDeletable(trx, repository);
      assertTagDeletable(repository, tag, row);
      await archiveTag(trx, repository, tag);
      await trx.deleteFrom('tags').where('repository', '=', repository).where('name', '=', tag).execute();
      const at = now();
      await markIfUntagged(trx, repository, row.digest, at);
      await appendJournal(trx, journal, at);
      return true;
    });
  }

  async deleteManifestIfUnused(repository: string, digest: string, journal: JournalEntry[]): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const manifest = await trx
        .selectFrom('manifests')
        .select(['subject_digest', 'write_enabled', 'delete_enabled'])
        .where('repository', '=', repository)
        .where('digest', '=', digest)
        .executeTakeFirst();
      if (!manifest) return false;
      // Checked in the deleting transaction, so a tag, a parent index or a subject that came
      // back since the plan was made keeps the manifest (protected by construction).
      const tagged = await trx.selectFrom('tags').select('name').where('repository', '=', repository).where('digest', '=', digest).executeTakeFirst();
      if (tagged) return false;
      const parent = await trx
        .selectFrom('manifest_references as r')
        .innerJoin('manifests as m', (j) => j.onRef('m.repository', '=', 'r.repository').onRef('m.digest', '=', 'r.parent_digest'))
        .select('r.parent_digest')
        .where('r.repository', '=', repository)
        .where('r.child_digest', '=', digest)
        .where('r.child_kind', '=', 'manifest')
        .executeTakeFirst();
      if (parent) return false;
      if (manifest.subject_digest) {
        const subject = await trx.selectFrom('manifests').select('digest').where('repository', '=', repository).where('digest', '=', manifest.subject_digest).executeTakeFirst();
        if (subject) return false;
      }
      // After the checks that keep it anyway: a kept manifest answers false, as before locks.
      await assertRepositoryDeletable(trx, repository);
      await assertManifestDeletable(trx, repository, digest, manifest);
      await archiveManifest(trx, repository, digest);
      await queueChildBlobs(trx, repository, digest);
      await trx.deleteFrom('manifest_references').where('repository', '=', repository).where('parent_digest', '=', digest).execute();
      await trx.deleteFrom('manifests').where('repository', '=', repository).where('digest', '=', digest).execute();
      await appendJournal(trx, journal, now());
      return true;
    });
  }

  async addTagNamedFrom(
    repository: string,
    digest: string,
    namePrefix: string,
    name: (tags: string[]) => string,
    journal: (tag: string, manifest: { mediaType: string; size: number }) => JournalEntry[],
  ): Promise<{ tag: string } | null> {
    const at = now();
    return this.db.transaction().execute(async (trx) => {
      // Writing the repository row first takes its lock on PostgreSQL (SQLite's immediate
      // transaction already holds the write lock), so concurrent callers read the tags one by one.
      const locked = await trx.updateTable('repositories').set({ updated_at: at }).where('name', '=', repository).executeTakeFirst();
      if (locked.numUpdatedRows === 0n) return null;
      await assertRepositoryWritable(trx, repository);
      const manifest = await trx.selectFrom('manifests').select(['media_type', 'size']).where('repository', '=', repository).where('digest', '=', digest).executeTakeFirst();
      if (!manifest) return null;
      const rows = await trx
        .selectFrom('tags')
        .select('name')
        .where('repository', '=', repository)
        .where(sql<string>`substr(name, 1, ${namePrefix.length})`, '=', namePrefix)
        .execute();
      const tag = name(rows.map((r) => r.name));
      await trx.insertInto('tags').values({ repository, name: tag, digest, created_at: at, updated_at: at }).execute();
      await trx.updateTable('manifests').set({ untagged_at: null }).where('repository', '=', repository).where('digest', '=', digest).execute();
      await appendJournal(trx, journal(tag, { mediaType: manifest.media_type, size: Number(manifest.size) }), at);
      return { tag };
    });
  }

  async deleteRepositoryContent(repository: string, journal: (deleted: DeletedManifest[]) => JournalEntry[]): Promise<DeletedManifest[]> {
    return this.db.transaction().execute(async (trx) => {
      // Every lock is checked before anything goes, so a refusal deletes nothing.
      await assertRepositoryContentDeletable(trx, repository);
      const manifests = await trx.selectFrom('manifests').select(['digest', 'media_type']).where('repository', '=', repository).orderBy('digest').execute();
      if (manifests.length === 0) return [];
      const tags = await trx.selectFrom('tags').select(['name', 'digest']).where('repository', '=', repository).orderBy('name').execute();
      const tagsOf = new Map<string, string[]>();
      for (const t of tags) tagsOf.set(t.digest, [...(tagsOf.get(t.digest) ?? []), t.name]);
      const deleted = manifests.map((m) => ({ digest: m.digest, mediaType: m.media_type, tags: tagsOf.get(m.digest) ?? [] }));
      const blobs = await trx.selectFrom('manifest_references').select('child_digest').where('repository', '=', repository).where('child_kind', '=', 'blob').execute();
      await queueBlobReviews(trx, blobs.map((b) => b.child_digest), 'manifest-deleted');
      // Restorable while soft delete is on, as every other delete.
      for (const m of manifests) await archiveManifest(trx, repository, m.digest);
      await trx.deleteFrom('tags').where('repository', '=', repository).execute();
      await trx.deleteFrom('manifest_references').where('repository', '=', repository).execute();
      await trx.deleteFrom('manifests').where('repository', '=', repository).execute();
      await trx.updateTable('repositories').set({ updated_at: now() }).where('name', '=', repository).execute();
      await appendJournal(trx, journal(deleted), now());
      return deleted;
    });
  }

  async pushLocks(repository: string, tag: string | null): Promise<PushLocks> {
    const repo = await this.db.selectFrom('repositories').select('write_enabled').where('name', '=', repository).executeTakeFirst();
    const row = tag === null ? undefined : await this.db.selectFrom('tags').select(['digest', 'write_enabled']).where('repository', '=', repository).where('name', '=', tag).executeTakeFirst();
    return {
      repositoryWriteEnabled: repo ? isOn(repo.write_enabled) : null,
      tag: row ? { digest: row.digest, writeEnabled: isOn(row.write_enabled) } : null,
    };
  }

  async readJournal(afterSeq: number, limit: number): Promise<JournaledEvent[]> {
    const rows = await this.db.selectFrom('registry_events').selectAll().where('seq', '>', afterSeq).orderBy('seq').limit(limit).execute();
    return rows.map((r) => ({ seq: Number(r.seq), name: r.name, payload: JSON.parse(r.payload) as unknown, createdAt: r.created_at }));
  }

  async journalCursor(consumer: string): Promise<number | null> {
    const row = await this.db.selectFrom('event_cursors').select('seq').where('consumer', '=', consumer).executeTakeFirst();
    return row ? Number(row.seq) : null;
  }

  async journalHead(): Promise<number> {
    const row = await this.db.selectFrom('registry_events').select((eb) => eb.fn.max('seq').as('seq')).executeTakeFirst();
    return Number(row?.seq ?? 0);
  }

  async saveJournalCursor(consumer: string, seq: number): Promise<void> {
    await this.db
      .insertInto('event_cursors')
      .values({ consumer, seq })
      .onConflict((oc) => oc.column('consumer').doUpdateSet({ seq }))
      .execute();
  }

  async pruneJournal(seq: number, before: string): Promise<number> {
    const result = await this.db.deleteFrom('registry_events').where('seq', '<=', seq).where('created_at', '<', before).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async listReferrers(repository: string, subjectDigest: string, artifactType?: string): Promise<ReferrerDescriptor[]> {
    let query = this.db
      .selectFrom('manifests')
      .select(['media_type', 'digest', 'size', 'artifact_type', 'annotations'])
      .where('repository', '=', repository)
      .where('subject_digest', '=', subjectDigest)
      .orderBy('created_at')
      .orderBy('digest');
    if (artifactType !== undefined) query = query.where('artifact_type', '=', artifactType);
    return (await query.execute()).map((r) => ({
      mediaType: r.media_type,
      digest: r.digest,
      size: Number(r.size),
      artifactType: r.artifact_type,
      annotations: r.annotations ? (JSON.parse(r.annotations) as Record<string, string>) : null,
    }));
  }

  async storageUsed(): Promise<number> {
    const row = await sql<{ total: number | string | null }>`
      select (select coalesce(sum(size), 0) from blobs) + (select coalesce(sum(size), 0) from manifests) as total
    `.execute(this.db);
    return Number(row.rows[0]?.total ?? 0);
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }
}

/** What every pull asks: a manifest by tag or digest, a blob's link, a pending GC review. */
function preparePullQueries(db: Kysely<Database>) {
  return {
    manifestByTag: new PreparedQuery(db, 2, (repository: string, tag: string) =>
      db
        .selectFrom('tags as t')
        .innerJoin('manifests as m', (join) => join.onRef('m.repository', '=', 't.repository').onRef('m.digest', '=', 't.digest'))
        .innerJoin('repositories as r', 'r.name', 't.repository')
        .selectAll('m')
        .select(['r.read_enabled as repository_read_enabled', 't.read_enabled as tag_read_enabled'])
        .where('t.repository', '=', repository)
        .where('t.name', '=', tag),
    ),
    manifestByDigest: new PreparedQuery(db, 2, (repository: string, digest: string) =>
      db
        .selectFrom('manifests as m')
        .innerJoin('repositories as r', 'r.name', 'm.repository')
        .selectAll('m')
        .select('r.read_enabled as repository_read_enabled')
        .where('m.repository', '=', repository)
        .where('m.digest', '=', digest),
    ),
    linkedBlob: new PreparedQuery(db, 2, (repository: string, digest: string) =>
      db
        .selectFrom('repository_blobs as rb')
        .innerJoin('blobs as b', 'b.digest', 'rb.digest')
        .innerJoin('repositories as r', 'r.name', 'rb.repository')
        .select(['b.size', 'r.read_enabled'])
        .where('rb.repository', '=', repository)
        .where('rb.digest', '=', digest),
    ),
    pendingReview: new PreparedQuery(db, 1, (digest: string) => db.selectFrom('gc_blob_reviews').select('digest').where('digest', '=', digest)),
  };
}

function prepareUploadQueries(db: Kysely<Database>) {
  return {
    createUpload: new PreparedQuery(db, 5, (id: string, repository: string, size: number, createdAt: string, updatedAt: string) =>
      db.insertInto('uploads').values({ id, repository, size, created_at: createdAt, updated_at: updatedAt }),
    ),
    getUpload: new PreparedQuery(db, 1, (id: string) => db.selectFrom('uploads').selectAll().where('id', '=', id)),
    setUploadSize: new PreparedQuery(db, 3, (id: string, size: number, at: string) => db.updateTable('uploads').set({ size, updated_at: at }).where('id', '=', id)),
    deleteUpload: new PreparedQuery(db, 1, (id: string) => db.deleteFrom('uploads').where('id', '=', id)),
    ensureRepository: new PreparedQuery(db, 2, (name: string, at: string) => ensureRepositoryQuery(db, name, at)),
    insertBlob: new PreparedQuery(db, 3, (digest: string, size: number, at: string) =>
      db.insertInto('blobs').values({ digest, size, created_at: at }).onConflict((oc) => oc.column('digest').doNothing()),
    ),
    insertRepositoryBlob: new PreparedQuery(db, 3, (repository: string, digest: string, at: string) =>
      db.insertInto('repository_blobs').values({ repository, digest, created_at: at }).onConflict((oc) => oc.columns(['repository', 'digest']).doNothing()),
    ),
    queueReview: prepareQueueBlobReview(db),
  };
}

/** Sets when a manifest lost its last tag (retention counts from then). */
async function markIfUntagged(trx: Kysely<Database>, repository: string, digest: string, at: string): Promise<void> {
  const still = await trx.selectFrom('tags').select('name').where('repository', '=', repository).where('digest', '=', digest).executeTakeFirst();
  if (!still) await trx.updateTable('manifests').set({ untagged_at: at }).where('repository', '=', repository).where('digest', '=', digest).execute();
}

/** A deleted manifest's blobs go to the collector's review queue (the cost follows the garbage). */
async function queueChildBlobs(trx: Kysely<Database>, repository: string, digest: string): Promise<void> {
  const rows = await trx
    .selectFrom('manifest_references')
    .select('child_digest')
    .where('repository', '=', repository)
    .where('parent_digest', '=', digest)
    .where('child_kind', '=', 'blob')
    .execute();
  await queueBlobReviews(trx, rows.map((r) => r.child_digest), 'manifest-deleted');
}

async function ensureRepository(trx: Kysely<Database>, name: string, at: string): Promise<void> {
  await ensureRepositoryQuery(trx, name, at).execute();
}

function ensureRepositoryQuery(trx: Kysely<Database>, name: string, at: string) {
  return trx.insertInto('repositories').values({ name, created_at: at, updated_at: at }).onConflict((oc) => oc.column('name').doNothing());
}

function toStoredManifest(row: Selectable<ManifestsTable>): StoredManifest {
  return {
    repository: row.repository,
    digest: row.digest,
    mediaType: row.media_type,
    size: Number(row.size),
    content: row.content,
    artifactType: row.artifact_type,
    configMediaType: row.config_media_type,
    configDigest: row.config_digest,
    subjectDigest: row.subject_digest,
    annotations: row.annotations ? (JSON.parse(row.annotations) as Record<string, string>) : null,
    platform: row.platform_os
      ? {
          os: row.platform_os,
          architecture: row.platform_architecture ?? '',
          ...(row.platform_variant ? { variant: row.platform_variant } : {}),
        }
      : null,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

async function appendJournal(trx: Kysely<Database>, entries: JournalEntry[], at: string): Promise<void> {
  if (entries.length === 0) return;
  await trx
    .insertInto('registry_events')
    .values(entries.map((e) => ({ name: e.name, payload: JSON.stringify(e.payload), created_at: at })))
    .execute();
}
