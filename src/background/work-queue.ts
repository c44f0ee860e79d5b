/**
 * Background work's one home: every consumer, trigger, poll, timer and (later) lifecycle job is
 * a work item here, in the metadata store, so that several servers on one database can share
 * the work: an item is claimed by one worker at a time, under a lease that runs out if that
 * worker dies, and is then claimed again by another.
 *
 * An item is one-shot (done when its handler returns) or recurring (its handler says when it is
 * next due). (kind, key) is unique, which is what deduplicates: enqueueing an item that is
 * already pending does nothing.
 */
export interface WorkItem {
  id: number;
  kind: string;
  key: string;
  recurring: boolean;
  payload: unknown;
  /** Due from this time (ISO 8601). */
  runAt: string;
  /** Failed attempts since the last success. */
  attempts: number;
  lastError: string | null;
  leaseOwner: string | null;
  leaseUntil: string | null;
  updatedAt: string;
}

export interface NewWorkItem {
  kind: string;
  key: string;
  payload?: unknown;
  /** Default: now. */
  runAt?: string;
}

export interface WorkQueue {
  /** Adds a one-shot item unless one with its (kind, key) exists; true when it was added. */
  enqueue(item: NewWorkItem): Promise<boolean>;
  /**
   * Creates or updates a recurring item. An existing item keeps its lease and state; its due time
   * moves to `runAt` only when that is earlier (or `replace` asks for it), and `payload` replaces
   * its payload only when given.
   */
  ensureRecurring(item: NewWorkItem & { replace?: boolean }): Promise<void>;
  /** Removes an item (a task that no longer needs its timer or poll); an owner's lease does not protect it. */
  remove(kind: string, key: string): Promise<boolean>;
  /** Removes every item of a kind whose key starts with `prefix` (a deleted task's items). */
  removeByPrefix(kind: string, prefix: string): Promise<number>;
  /**
   * Takes the due item of one of `kinds` that has waited longest and is not leased (or whose lease
   * ran out), for `owner`, for `leaseSeconds`. Never the same item to two owners at once.
   */
  claimDue(owner: string, kinds: string[], leaseSeconds: number): Promise<WorkItem | null>;
  /** Takes one specific item (a journal consumer's), whether due or not, when nobody holds it. */
  claimKey(owner: string, kind: string, key: string, leaseSeconds: number): Promise<WorkItem | null>;
  /** Extends a held lease, optionally saving state; false when the item is not this owner's any more. */
  renew(id: number, owner: string, leaseSeconds: number, payload?: unknown): Promise<boolean>;
  /** A one-shot item is done: removed. */
  complete(id: number, owner: string): Promise<void>;
  /** A recurring item is done for now: released, due again at `runAt`, with its new state. */
  reschedule(id: number, owner: string, runAt: string, payload?: unknown): Promise<void>;
  /** An attempt failed: released, due again at `runAt`, the error kept for `show` commands. */
  fail(id: number, owner: string, runAt: string, error: string, payload?: unknown): Promise<void>;
  get(kind: string, key: string): Promise<WorkItem | null>;
  list(kind: string, keyPrefix?: string): Promise<WorkItem[]>;
}
