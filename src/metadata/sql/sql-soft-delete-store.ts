import type { Kysely, Selectable } from 'kysely';
import type { JournalEntry } from '../metadata-store.js';
import {
  RestoreRefused,
  type DeletedManifest,
  type DeletedRepository,
  type DeletedTag,
  type Restored,
  type RestoreRequest,
  type RestoreResult,
  type SoftDeleteStore,
} from '../../lifecycle/soft-delete.js';
import { queueBlobReviews } from './gc-review-queue.js';
import type { Database, DeletedManifestsTable } from './schema.js';
import { softDeleteKey, softDeletePolicy, type SoftDeletePolicy } from './soft-delete-archive.js';

/** The archive's manifests that are restorable: not live again (a push of the same digest re-creates it). */
const restorable = (db: Kysely<Database>) =>
  db
    .selectFrom('deleted_manifests as dm')
    .where(({ not, exists, selectFrom }) =>
      not(exists(selectFrom('manifests as m').select('m.digest').whereRef('m.repository', '=', 'dm.repository').whereRef('m.digest', '=', 'dm.digest'))),
    );

/** The archive's tags that are restorable: not back on the same digest. */
const restorableTags = (db: Kysely<Database>) =>
  db
    .selectFrom('deleted_tags as dt')
    .where(({ not, exists, selectFrom }) =>
      not(exists(selectFrom('tags as t').select('t.name').whereRef('t.repository', '=', 'dt.repository').whereRef('t.name', '=', 'dt.name').whereRef('t.digest', '=', 'dt.digest'))),
    );

export class SqlSoftDeleteStore implements SoftDeleteStore {
  constructor(private readonly db: Kysely<Database>) {}

  policy(): Promise<SoftDeletePolicy> {
    return softDeletePolicy(this.db);
  }

  async setPolicy(policy: SoftDeletePolicy): Promise<void> {
    const value = JSON.stringify({ status: policy.status, days: policy.days });
    await this.db.insertInto('settings').values({ key: softDeleteKey, value }).onConflict((oc) => oc.column('key').doUpdateSet({ value })).execute();
  }

  async deletedRepositories(): Promise<DeletedRepository[]> {
    const manifests = await restorable(this.db)
      .select((eb) => ['dm.repository', eb.fn.countAll<number>().as('n'), eb.fn.max('dm.deleted_at').as('last')])
      .groupBy('dm.repository')
      .orderBy('dm.repository')
      .execute();
    if (manifests.length === 0) return [];
    const names = manifests.map((m) => m.repository);
    // A repository is deleted when nothing of it is live (ACR lists those); one with live content has deleted manifests, not a deleted repository.
    const live = new Set((await this.db.selectFrom('manifests').select('repository').distinct().where('repository', 'in', names).execute()).map((r) => r.repository));
    const tags = await restorableTags(this.db).select((eb) => ['dt.repository', eb.fn.count<number>('dt.name').distinct().as('n')]).where('dt.repository', 'in', names).groupBy('dt.repository').execute();
    const tagCount = new Map(tags.map((t) => [t.repository, Number(t.n)]));
    return manifests
      .filter((m) => !live.has(m.repository))
      .map((m) => ({ name: m.repository, manifests: Number(m.n), tags: tagCount.get(m.repository) ?? 0, lastDeletedAt: String(m.last) }));
  }

  async deletedManifests(repository: string): Promise<Array<Omit<DeletedManifest, 'expiresAt'>>> {
    const rows = await restorable(this.db)
      .select(['dm.digest', 'dm.media_type', 'dm.size', 'dm.created_at', 'dm.deleted_at'])
      .where('dm.repository', '=', repository)
      .orderBy('dm.deleted_at', 'desc')
      .orderBy('dm.digest')
      .execute();
    if (rows.length === 0) return [];
    const tags = await this.db.selectFrom('deleted_tags').select(['name', 'digest']).where('repository', '=', repository).where('digest', 'in', rows.map((r) => r.digest)).orderBy('name').execute();
    return rows.map((r) => ({
      repository,
      digest: r.digest,
      mediaType: r.media_type,
      size: Number(r.size),
      tags: [...new Set(tags.filter((t) => t.digest === r.digest).map((t) => t.name))],
      createdAt: r.created_at,
      deletedAt: r.deleted_at,
    }));
  }

  async deletedTags(repository: string, tag: string | null): Promise<Array<Omit<DeletedTag, 'expiresAt'>>> {
    let query = restorableTags(this.db)
      .leftJoin('manifests as m', (j) => j.onRef('m.repository', '=', 'dt.repository').onRef('m.digest', '=', 'dt.digest'))
      .select(['dt.name', 'dt.digest', 'dt.created_at', 'dt.deleted_at', 'm.digest as live'])
      .where('dt.repository', '=', repository)
      .orderBy('dt.deleted_at', 'desc')
      .orderBy('dt.name');
    if (tag !== null) query = query.where('dt.name', '=', tag);
    const rows = await query.execute();
    // A tag whose manifest is neither live nor archived cannot come back: not listed.
    const archived = new Set(
      rows.length === 0
        ? []
        : (await this.db.selectFrom('deleted_manifests').select('digest').where('repository', '=', repository).where('digest', 'in', rows.map((r) => r.digest)).execute()).map((r) => r.digest),
    );
    return rows
      .filter((r) => r.live !== null || archived.has(r.digest))
      .map((r) => ({ repository, tag: r.name, digest: r.digest, createdAt: r.created_at, deletedAt: r.deleted_at, manifestLive: r.live !== null }));
  }

  async restore(request: RestoreRequest, journal: (restored: Restored) => JournalEntry[]): Promise<RestoreResult> {
    const { repository, force } = request;
    return this.db.transaction().execute(async (trx) => {
      const at = new Date().toISOString();
      let digest = request.digest;
      if (digest === null) {
        const latest = await restorableTags(trx).select('dt.digest').where('dt.repository', '=', repository).where('dt.name', '=', request.tag!).orderBy('dt.deleted_at', 'desc').executeTakeFirst();
        if (!latest) throw new RestoreRefused('unknown', `no deleted tag ${repository}:${request.tag}`, { repository, tag: request.tag });
        digest = latest.digest;
      }
      const live = async (d: string) => (await trx.selectFrom('manifests').select(['media_type', 'size']).where('repository', '=', repository).where('digest', '=', d).executeTakeFirst()) ?? null;

      // The manifest and, for an index, the children that are not live: all from the archive.
      const toRestore: Array<Selectable<DeletedManifestsTable>> = [];
      const references: Array<Database['deleted_manifest_references']> = [];
      const visit = async (d: string, parent: string | null): Promise<void> => {
        if (toRestore.some((m) => m.digest === d) || (await live(d))) return;
        const archived = await trx.selectFrom('deleted_manifests').selectAll().where('repository', '=', repository).where('digest', '=', d).executeTakeFirst();
        if (!archived) {
          if (parent === null) throw new RestoreRefused('unknown', `no deleted manifest ${repository}@${d}`, { repository, digest: d });
          throw new RestoreRefused('gone', `manifest ${d}, which ${parent} names, is neither in ${repository} nor restorable`, { repository, digest: d, parent });
        }
        toRestore.push(archived);
        const refs = await trx.selectFrom('deleted_manifest_references').selectAll().where('repository', '=', repository).where('parent_digest', '=', d).execute();
        references.push(...refs);
        for (const r of refs) if (r.child_kind === 'manifest') await visit(r.child_digest, d);
      };
      await visit(digest, null);

      const blobs = [...new Set(references.filter((r) => r.child_kind === 'blob').map((r) => r.child_digest))];
      if (blobs.length > 0) {
        const present = new Set((await trx.selectFrom('blobs').select('digest').where('digest', 'in', blobs).execute()).map((r) => r.digest));
        const missing = blobs.filter((b) => !present.has(b));
        if (missing.length > 0) throw new RestoreRefused('gone', `blob ${missing[0]} of ${repository}@${digest} is gone (collected)`, { repository, digest, blobs: missing });
      }

      const root = toRestore.find((m) => m.digest === digest) ?? (await live(digest));
      const rootShape = { mediaType: root!.media_type, size: Number(root!.size) };
      const archivedTags = await trx.selectFrom('deleted_tags').select(['name', 'created_at']).where('repository', '=', repository).where('digest', '=', digest).execute();
      const candidates = request.tag !== null ? [request.tag] : [...new Set(archivedTags.map((t) => t.name))].sort();
      const tags: Restored['tags'] = [];
      const skippedTags: string[] = [];
      for (const name of candidates) {
        const current = await trx.selectFrom('tags').select('digest').where('repository', '=', repository).where('name', '=', name).executeTakeFirst();
        if (current?.digest === digest) continue;
        if (current && !(request.tag !== null && force)) {
          if (request.tag !== null) {
            throw new RestoreRefused('conflict', `tag ${repository}:${name} now points at ${current.digest}; restore with --force to move it to ${digest}`, { repository, tag: name, current: current.digest, digest });
          }
          skippedTags.push(name);
          continue;
        }
        tags.push({ tag: name, digest, ...rootShape, previousDigest: current?.digest ?? null });
      }
      if (toRestore.length === 0 && tags.length === 0) {
        throw new RestoreRefused('unknown', `${repository}@${digest} is live${request.tag !== null ? ` and tagged ${request.tag}` : ''}: nothing to restore`, { repository, digest });
      }

      // Restoring content re-creates the repository.
      await trx.insertInto('repositories').values({ name: repository, created_at: at, updated_at: at }).onConflict((oc) => oc.column('name').doUpdateSet({ updated_at: at })).execute();
      for (const m of toRestore.reverse()) {
        const { deleted_at: _deletedAt, ...row } = m;
        await trx.insertInto('manifests').values({ ...row, updated_at: at, untagged_at: at }).execute();
        await trx.deleteFrom('deleted_manifests').where('repository', '=', repository).where('digest', '=', m.digest).execute();
        await trx.deleteFrom('deleted_manifest_references').where('repository', '=', repository).where('parent_digest', '=', m.digest).execute();
      }
      if (references.length > 0) await trx.insertInto('manifest_references').values(references).onConflict((oc) => oc.columns(['repository', 'parent_digest', 'child_digest']).doNothing()).execute();
      if (blobs.length > 0) {
        await trx.insertInto('repository_blobs').values(blobs.map((b) => ({ repository, digest: b, created_at: at }))).onConflict((oc) => oc.columns(['repository', 'digest']).doNothing()).execute();
      }
      for (const t of tags) {
        const createdAt = archivedTags.find((a) => a.name === t.tag)?.created_at ?? at;
        await trx
          .insertInto('tags')
          .values({ repository, name: t.tag, digest, created_at: createdAt, updated_at: at })
          .onConflict((oc) => oc.columns(['repository', 'name']).doUpdateSet({ digest, updated_at: at }))
          .execute();
        await trx.deleteFrom('deleted_tags').where('repository', '=', repository).where('name', '=', t.tag).where('digest', '=', digest).execute();
        if (t.previousDigest) {
          const still = await trx.selectFrom('tags').select('name').where('repository', '=', repository).where('digest', '=', t.previousDigest).executeTakeFirst();
          if (!still) await trx.updateTable('manifests').set({ untagged_at: at }).where('repository', '=', repository).where('digest', '=', t.previousDigest).execute();
        }
      }
      if (tags.length > 0) await trx.updateTable('manifests').set({ untagged_at: null }).where('repository', '=', repository).where('digest', '=', digest).execute();

      const entries = journal({ manifests: toRestore.map((m) => ({ digest: m.digest, mediaType: m.media_type, size: Number(m.size) })), tags });
      if (entries.length > 0) await trx.insertInto('registry_events').values(entries.map((e) => ({ name: e.name, payload: JSON.stringify(e.payload), created_at: at }))).execute();
      return { repository, digest, tags: tags.map((t) => t.tag), skippedTags, manifestsRestored: toRestore.map((m) => m.digest) };
    });
  }

  async expire(cutoff: string, limit: number): Promise<{ manifests: number; tags: number }> {
    return this.db.transaction().execute(async (trx) => {
      const expired = await trx.selectFrom('deleted_manifests').select(['repository', 'digest']).where('deleted_at', '<', cutoff).orderBy('deleted_at').limit(limit).execute();
      for (const m of expired) {
        const blobs = await trx
          .selectFrom('deleted_manifest_references')
          .select('child_digest')
          .where('repository', '=', m.repository)
          .where('parent_digest', '=', m.digest)
          .where('child_kind', '=', 'blob')
          .execute();
        // What a final delete does at once, an expiry does now: the blobs go to the collector's review.
        await queueBlobReviews(trx, blobs.map((b) => b.child_digest), 'soft-delete-expired');
        await trx.deleteFrom('deleted_manifest_references').where('repository', '=', m.repository).where('parent_digest', '=', m.digest).execute();
        await trx.deleteFrom('deleted_manifests').where('repository', '=', m.repository).where('digest', '=', m.digest).execute();
      }
      const tags = await trx.deleteFrom('deleted_tags').where('deleted_at', '<', cutoff).executeTakeFirst();
      return { manifests: expired.length, tags: Number(tags.numDeletedRows) };
    });
  }
}
