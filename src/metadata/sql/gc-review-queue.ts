import type { Kysely } from 'kysely';
import type { Database } from './schema.js';
import { PreparedQuery } from './prepared-query.js';

/**
 * The garbage collector's review queue, written by the registry's own transactions: a blob that
 * may have become garbage (its manifest deleted, its link removed, an upload no manifest used yet)
 * gets a row; a review that finds it referenced drops the row. Queueing again postpones the
 * review and clears its mark (a new version), as GitLab's `ON CONFLICT DO UPDATE` does.
 */
export async function queueBlobReviews(trx: Kysely<Database>, digests: string[], reason: string): Promise<void> {
  const unique = [...new Set(digests)];
  if (unique.length === 0) return;
  await queueReviewsQuery(trx, unique, new Date().toISOString(), reason).execute();
}

/** queueBlobReviews of one digest, compiled once (every blob push queues one): run it with the time. */
export function prepareQueueBlobReview(db: Kysely<Database>) {
  return new PreparedQuery(db, 3, (digest: string, at: string, reason: string) => queueReviewsQuery(db, [digest], at, reason));
}

function queueReviewsQuery(trx: Kysely<Database>, digests: string[], at: string, reason: string) {
  return trx
    .insertInto('gc_blob_reviews')
    .values(digests.map((digest) => ({ digest, due_from: at, version: 0, reason, claimed_by: null, claimed_until: null })))
    .onConflict((oc) => oc.column('digest').doUpdateSet((eb) => ({ due_from: at, reason, version: eb('gc_blob_reviews.version', '+', 1) })));
}

/**
 * A use of these blobs: pending reviews are postponed and their marks cleared. The read first
 * keeps the hot path (every blob HEAD and GET) free of writes when nothing is pending.
 */
export async function touchBlobReviews(db: Kysely<Database>, digests: string[]): Promise<void> {
  const pending = await db.selectFrom('gc_blob_reviews').select('digest').where('digest', 'in', digests).execute();
  if (pending.length === 0) return;
  const at = new Date().toISOString();
  await db
    .updateTable('gc_blob_reviews')
    .set((eb) => ({ due_from: at, version: eb('version', '+', 1) }))
    .where('digest', 'in', pending.map((p) => p.digest))
    .execute();
}
