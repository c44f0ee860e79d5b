import type { Kysely } from 'kysely';
import type { Database } from './schema.js';

/** Soft delete's policy, as `az acr config soft-delete` sets it. */
export interface SoftDeletePolicy {
  status: 'enabled' | 'disabled';
  /** Deleted content stays restorable this many days (1..90). */
  days: number;
}

export const softDeleteKey = 'softDelete';
/**
 * Off by default, as in ACR: with it on a delete frees no storage for `days` days, which would
 * surprise whoever deletes to make room (and a full disk is when people delete).
 */
export const defaultSoftDelete: SoftDeletePolicy = { status: 'disabled', days: 7 };

export async function softDeletePolicy(db: Kysely<Database>): Promise<SoftDeletePolicy> {
  const row = await db.selectFrom('settings').select('value').where('key', '=', softDeleteKey).executeTakeFirst();
  return row ? { ...defaultSoftDelete, ...(JSON.parse(row.value) as Partial<SoftDeletePolicy>) } : defaultSoftDelete;
}

/**
 * Called by the deleting transaction before a manifest goes: with soft delete on, copies the
 * manifest (its bytes, so a restore is byte for byte), its references and its tags (with their
 * times) into the archive. Archiving a digest again (deleted, pushed, deleted) replaces the entry.
 */
export async function archiveManifest(trx: Kysely<Database>, repository: string, digest: string): Promise<void> {
  if ((await softDeletePolicy(trx)).status !== 'enabled') return;
  const manifest = await trx.selectFrom('manifests').selectAll().where('repository', '=', repository).where('digest', '=', digest).executeTakeFirst();
  if (!manifest) return;
  const at = new Date().toISOString();
  const row = {
    repository,
    digest,
    media_type: manifest.media_type,
    size: manifest.size,
    content: manifest.content,
    artifact_type: manifest.artifact_type,
    config_media_type: manifest.config_media_type,
    config_digest: manifest.config_digest,
    subject_digest: manifest.subject_digest,
    annotations: manifest.annotations,
    platform_os: manifest.platform_os,
    platform_architecture: manifest.platform_architecture,
    platform_variant: manifest.platform_variant,
    created_at: manifest.created_at,
    updated_at: manifest.updated_at,
    deleted_at: at,
  };
  await trx.deleteFrom('deleted_manifest_references').where('repository', '=', repository).where('parent_digest', '=', digest).execute();
  await trx.insertInto('deleted_manifests').values(row).onConflict((oc) => oc.columns(['repository', 'digest']).doUpdateSet({ deleted_at: at, updated_at: row.updated_at })).execute();
  const references = await trx.selectFrom('manifest_references').selectAll().where('repository', '=', repository).where('parent_digest', '=', digest).execute();
  if (references.length > 0) await trx.insertInto('deleted_manifest_references').values(references).execute();
  const tags = await trx.selectFrom('tags').select(['name', 'created_at', 'updated_at']).where('repository', '=', repository).where('digest', '=', digest).execute();
  for (const tag of tags) await insertDeletedTag(trx, { repository, name: tag.name, digest, created_at: tag.created_at, updated_at: tag.updated_at, deleted_at: at });
}

/** Called by the deleting transaction before a tag goes (its manifest may stay). */
export async function archiveTag(trx: Kysely<Database>, repository: string, tag: string): Promise<void> {
  if ((await softDeletePolicy(trx)).status !== 'enabled') return;
  const row = await trx.selectFrom('tags').select(['digest', 'created_at', 'updated_at']).where('repository', '=', repository).where('name', '=', tag).executeTakeFirst();
  if (row) await insertDeletedTag(trx, { repository, name: tag, digest: row.digest, created_at: row.created_at, updated_at: row.updated_at, deleted_at: new Date().toISOString() });
}

async function insertDeletedTag(trx: Kysely<Database>, row: Database['deleted_tags']): Promise<void> {
  await trx.insertInto('deleted_tags').values(row).onConflict((oc) => oc.columns(['repository', 'name', 'digest']).doUpdateSet({ deleted_at: row.deleted_at, updated_at: row.updated_at })).execute();
}

/** Whether an archived (restorable) manifest references the blob: the collector keeps it. */
export async function archiveReferences(db: Kysely<Database>, digest: string): Promise<boolean> {
  const row = await db.selectFrom('deleted_manifest_references').select('child_digest').where('child_digest', '=', digest).where('child_kind', '=', 'blob').executeTakeFirst();
  return row !== undefined;
}
