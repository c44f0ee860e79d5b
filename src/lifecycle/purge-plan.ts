/**
 * What a purge, the retention policy or a lifecycle policy deletes in one repository, decided
 * from a snapshot, with the protections built in rather than checked after: a manifest that stays
 * keeps its child manifests (multi-arch) and its referrers (signatures, SBOMs); a referrer whose
 * subject goes, goes with it; locked content stays. Pure, so a dry run and a real run (and a
 * policy preview and its evaluation) plan the same thing.
 */

export interface SnapshotTag {
  name: string;
  digest: string;
  updatedAt: string;
  lastPulledAt: string | null;
  /** The tag's own lock: deleteEnabled or writeEnabled false. */
  locked: boolean;
}

export interface SnapshotManifest {
  digest: string;
  mediaType: string;
  size: number;
  updatedAt: string;
  untaggedAt: string | null;
  lastPulledAt: string | null;
  subject: string | null;
  childManifests: string[];
  blobs: string[];
  /** The manifest's own lock: deleteEnabled or writeEnabled false. */
  locked: boolean;
}

export interface RepositorySnapshot {
  repository: string;
  /** The repository's lock (deleteEnabled or writeEnabled false): nothing in it is deleted, include-locked or not. */
  locked: boolean;
  tags: SnapshotTag[];
  manifests: SnapshotManifest[];
}

/** `acr purge`'s rules (retention is `--untagged-only` with the age counted from the untagging). */
export interface PlanRules {
  /** Tags to consider (null: no tags are deleted, `--untagged-only`). */
  tags: RegExp | null;
  /** Only what is older than this (ms since epoch) is eligible. */
  cutoffMs: number;
  /** Of the eligible tags (or, with untaggedOnly, the dangling manifests), the newest N stay. */
  keep: number;
  /** Delete untagged manifests too. */
  untagged: boolean;
  untaggedOnly: boolean;
  /** An untagged manifest's age counts from its push (purge: ACR's lastUpdateTime) or from losing its last tag (retention). */
  untaggedAge: 'updated' | 'untagged';
  /** Locked tags and manifests are deleted too (purge --include-locked, which unlocks them first). */
  includeLocked?: boolean;
}

/** What a rule set chose; planDeletions adds the protections. */
export interface DeletionChoice {
  tags: SnapshotTag[];
  /**
   * Of the manifests that are untagged once the chosen tags are gone (referrers of a present
   * subject excluded: they follow their subject), the ones to delete; null: none.
   */
  untagged: ((untagged: SnapshotManifest[]) => SnapshotManifest[]) | null;
  includeLocked: boolean;
}

export interface RepositoryPlan {
  repository: string;
  tags: SnapshotTag[];
  /** In an order that deletes parents before children and subjects before referrers. */
  manifests: SnapshotManifest[];
  /** Chosen, but kept by a lock (theirs, their repository's, or a locked parent's or subject's). */
  keptByLock: { tags: string[]; manifests: string[] };
}

export const snapshotTime = (iso: string): number => Date.parse(iso);
const time = snapshotTime;

/** Newest first (by last update), name as the tie-break: the order `--keep` counts in. */
export const newestFirst = (a: SnapshotTag, b: SnapshotTag): number => time(b.updatedAt) - time(a.updatedAt) || a.name.localeCompare(b.name);

export function planRepository(snapshot: RepositorySnapshot, rules: PlanRules): RepositoryPlan {
  const tags: SnapshotTag[] = [];
  if (!rules.untaggedOnly && rules.tags) {
    const eligible = snapshot.tags.filter((t) => rules.tags!.test(t.name) && time(t.updatedAt) < rules.cutoffMs).sort(newestFirst);
    tags.push(...eligible.slice(rules.keep));
  }
  const age = (m: SnapshotManifest) => time(rules.untaggedAge === 'untagged' ? (m.untaggedAt ?? m.updatedAt) : m.updatedAt);
  const untagged =
    rules.untagged || rules.untaggedOnly
      ? (candidates: SnapshotManifest[]) => {
          const old = candidates.filter((m) => age(m) < rules.cutoffMs);
          if (!rules.untaggedOnly || rules.keep === 0) return old;
          return [...old].sort((a, b) => age(b) - age(a) || a.digest.localeCompare(b.digest)).slice(rules.keep);
        }
      : null;
  return planDeletions(snapshot, { tags, untagged, includeLocked: rules.includeLocked ?? false });
}

export function planDeletions(snapshot: RepositorySnapshot, choice: DeletionChoice): RepositoryPlan {
  const lockHolds = (locked: boolean) => snapshot.locked || (locked && !choice.includeLocked);
  const keptByLock = { tags: choice.tags.filter((t) => lockHolds(t.locked)).map((t) => t.name), manifests: [] as string[] };
  const tagsToDelete = choice.tags.filter((t) => !lockHolds(t.locked));
  if (!choice.untagged) return { repository: snapshot.repository, tags: tagsToDelete, manifests: [], keptByLock };
  const doomed = doomedManifests(snapshot, tagsToDelete, choice.untagged, (m) => lockHolds(m.locked));
  if (snapshot.locked || snapshot.manifests.some((m) => lockHolds(m.locked))) {
    // What the rules chose but a lock kept (directly, or through a locked parent or subject).
    const going = new Set(doomed.map((m) => m.digest));
    keptByLock.manifests = doomedManifests(snapshot, tagsToDelete, choice.untagged, () => false)
      .map((m) => m.digest)
      .filter((d) => !going.has(d))
      .sort();
  }
  return { repository: snapshot.repository, tags: tagsToDelete, manifests: deletionOrder(doomed), keptByLock };
}

function doomedManifests(
  snapshot: RepositorySnapshot,
  tagsToDelete: SnapshotTag[],
  chooseUntagged: (untagged: SnapshotManifest[]) => SnapshotManifest[],
  lockHolds: (m: SnapshotManifest) => boolean,
): SnapshotManifest[] {
  const deletedTags = new Set(tagsToDelete.map((t) => t.name));
  const tagged = new Set(snapshot.tags.filter((t) => !deletedTags.has(t.name)).map((t) => t.digest));
  const byDigest = new Map(snapshot.manifests.map((m) => [m.digest, m]));
  // A referrer whose subject is here follows its subject; it is never a candidate on its own.
  const followsSubject = (m: SnapshotManifest) => m.subject !== null && byDigest.has(m.subject);
  const candidates = new Set(chooseUntagged(snapshot.manifests.filter((m) => !tagged.has(m.digest) && !followsSubject(m))).map((m) => m.digest));
  const kept = new Set(snapshot.manifests.filter((m) => !candidates.has(m.digest) && !followsSubject(m)).map((m) => m.digest));
  // Tagged referrers are roots as well, and so is everything a lock holds.
  for (const m of snapshot.manifests) if (tagged.has(m.digest) || lockHolds(m)) kept.add(m.digest);
  // Whatever a kept manifest reaches (children, referrers) is kept, and so on.
  const referrers = new Map<string, string[]>();
  for (const m of snapshot.manifests) if (m.subject && byDigest.has(m.subject)) referrers.set(m.subject, [...(referrers.get(m.subject) ?? []), m.digest]);
  const stack = [...kept];
  while (stack.length > 0) {
    const digest = stack.pop()!;
    for (const next of [...(byDigest.get(digest)?.childManifests ?? []), ...(referrers.get(digest) ?? [])]) {
      if (byDigest.has(next) && !kept.has(next)) {
        kept.add(next);
        stack.push(next);
      }
    }
  }
  return snapshot.manifests.filter((m) => !kept.has(m.digest));
}

/** Parents before children, subjects before referrers (each delete then finds nothing keeping it). */
function deletionOrder(manifests: SnapshotManifest[]): SnapshotManifest[] {
  const doomed = new Map(manifests.map((m) => [m.digest, m]));
  const blockers = new Map<string, Set<string>>(manifests.map((m) => [m.digest, new Set<string>()]));
  for (const m of manifests) {
    for (const child of m.childManifests) blockers.get(child)?.add(m.digest);
    if (m.subject && doomed.has(m.subject)) blockers.get(m.digest)!.add(m.subject);
  }
  const ordered: SnapshotManifest[] = [];
  const done = new Set<string>();
  while (ordered.length < manifests.length) {
    const ready = manifests.filter((m) => !done.has(m.digest) && [...blockers.get(m.digest)!].every((b) => done.has(b)));
    // A cycle cannot be pushed (digests), but never loop for ever on bad data.
    const next = ready.length > 0 ? ready : manifests.filter((m) => !done.has(m.digest));
    for (const m of next) {
      done.add(m.digest);
      ordered.push(m);
    }
  }
  return ordered;
}
