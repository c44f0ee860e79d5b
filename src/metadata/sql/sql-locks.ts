import type { Kysely } from 'kysely';
import { deleteLockOf, lockedError, writeLockOf, type LockFlags } from '../../registry/locks.js';
import type { Database } from './schema.js';

/**
 * Lock checks run inside the transaction that changes content, so a lock set concurrently is
 * either seen here or set after the change committed: it cannot be slipped past. SQLite's
 * immediate transaction holds the write lock from its start; on PostgreSQL these reads will need
 * FOR SHARE (a PATCH of the flags then waits for the change, or the change for the PATCH).
 */

export async function assertRepositoryWritable(trx: Kysely<Database>, repository: string): Promise<void> {
  const row = await trx.selectFrom('repositories').select('write_enabled').where('name', '=', repository).executeTakeFirst();
  const lock = row ? writeLockOf(row) : null;
  if (lock) throw lockedError({ kind: 'repository', repository }, lock);
}

export async function assertRepositoryDeletable(trx: Kysely<Database>, repository: string): Promise<void> {
  const row = await trx.selectFrom('repositories').select(['write_enabled', 'delete_enabled']).where('name', '=', repository).executeTakeFirst();
  const lock = row ? deleteLockOf(row) : null;
  if (lock) throw lockedError({ kind: 'repository', repository }, lock);
}

export function assertTagDeletable(repository: string, tag: string, flags: LockFlags): void {
  const lock = deleteLockOf(flags);
  if (lock) throw lockedError({ kind: 'tag', repository, tag }, lock);
}

/** A manifest goes with its tags, so a lock on any of them keeps it too. */
export async function assertManifestDeletable(trx: Kysely<Database>, repository: string, digest: string, flags: LockFlags): Promise<void> {
  const lock = deleteLockOf(flags);
  if (lock) throw lockedError({ kind: 'manifest', repository, digest }, lock);
  const tag = await trx
    .selectFrom('tags')
    .select(['name', 'write_enabled', 'delete_enabled'])
    .where('repository', '=', repository)
    .where('digest', '=', digest)
    .where((eb) => eb.or([eb('write_enabled', '=', 0), eb('delete_enabled', '=', 0)]))
    .orderBy('name')
    .executeTakeFirst();
  if (tag) assertTagDeletable(repository, tag.name, tag);
}

/** Refuses with the first lock that keeps anything in the repository: the repository's, a tag's, a manifest's. */
export async function assertRepositoryContentDeletable(trx: Kysely<Database>, repository: string): Promise<void> {
  await assertRepositoryDeletable(trx, repository);
  const tag = await trx
    .selectFrom('tags')
    .select(['name', 'write_enabled', 'delete_enabled'])
    .where('repository', '=', repository)
    .where((eb) => eb.or([eb('write_enabled', '=', 0), eb('delete_enabled', '=', 0)]))
    .orderBy('name')
    .executeTakeFirst();
  if (tag) assertTagDeletable(repository, tag.name, tag);
  const manifest = await trx
    .selectFrom('manifests')
    .select(['digest', 'write_enabled', 'delete_enabled'])
    .where('repository', '=', repository)
    .where((eb) => eb.or([eb('write_enabled', '=', 0), eb('delete_enabled', '=', 0)]))
    .orderBy('digest')
    .executeTakeFirst();
  const lock = manifest ? deleteLockOf(manifest) : null;
  if (manifest && lock) throw lockedError({ kind: 'manifest', repository, digest: manifest.digest }, lock);
}
