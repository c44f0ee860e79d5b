import type { RepositorySnapshot } from './purge-plan.js';

export interface RetentionPolicy {
  status: 'enabled' | 'disabled';
  /** Untagged manifests older than this many days (0: right away) are deleted. */
  days: number;
  type: 'UntaggedManifests';
}

export interface GcCandidate {
  digest: string;
  version: number;
  size: number | null;
}

export interface GcRunRecord {
  id: number;
  startedAt: string;
  finishedAt: string;
  trigger: string;
  dryRun: boolean;
  candidates: number;
  blobsDeleted: number;
  bytesFreed: number;
  uploadsDeleted: number;
  durationMs: number;
}

export interface StaleUpload {
  id: string;
  repository: string;
}

/** What purge, retention and the garbage collector read and write beyond the registry's own store. */
export interface LifecycleStore {
  repositories(): Promise<string[]>;
  /** Repositories holding a manifest untagged since before `cutoff` (what retention must look at). */
  repositoriesWithUntagged(cutoff: string): Promise<string[]>;
  snapshot(repository: string): Promise<RepositorySnapshot>;
  /** For each blob, the (repository, manifest) pairs that reference it. */
  blobParents(digests: string[]): Promise<Map<string, Array<{ repository: string; digest: string }>>>;
  blobSizes(digests: string[]): Promise<Map<string, number>>;
  /** Clears a tag's or manifest's delete and write locks (purge --include-locked, as ACR's). */
  unlock(repository: string, target: { tag: string } | { digest: string }): Promise<void>;

  retentionPolicy(): Promise<RetentionPolicy>;
  setRetentionPolicy(policy: RetentionPolicy): Promise<void>;

  /**
   * Claims up to `limit` reviews untouched for `graceSeconds`, for `owner`, for `leaseSeconds`
   * (a claim is one conditional update, so with several servers each review has one owner).
   */
  claimReviews(owner: string, graceSeconds: number, leaseSeconds: number, limit: number): Promise<GcCandidate[]>;
  /** Due reviews without claiming them (a dry run). */
  dueReviews(graceSeconds: number, limit: number): Promise<GcCandidate[]>;
  /** Whether any manifest in any repository references the blob (a live one, or a soft-deleted one still restorable). */
  isReferenced(digest: string): Promise<boolean>;
  /**
   * In one transaction: if the review is still this owner's, at `version` (untouched) and the
   * blob unreferenced, removes its links, its row and the review, and calls `removeBytes` before
   * committing (a touch waits for the transaction, so it cannot slip in between). Returns
   * 'deleted', 'kept' (referenced: review dropped) or 'touched' (postponed).
   */
  sweep(owner: string, candidate: GcCandidate, removeBytes: () => Promise<void>): Promise<'deleted' | 'kept' | 'touched'>;
  /** Gives a claimed review back (a dry run, or a failure): due again as it was. */
  release(owner: string, digest: string): Promise<void>;
  staleUploads(olderThan: string, limit: number): Promise<StaleUpload[]>;
  recordGcRun(run: Omit<GcRunRecord, 'id'>): Promise<GcRunRecord>;
  gcRuns(limit: number): Promise<GcRunRecord[]>;
  pendingReviews(): Promise<number>;
}
