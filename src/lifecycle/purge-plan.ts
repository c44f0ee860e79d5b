/**
 * What a purge (or the retention policy) deletes in one repository, decided from a snapshot,
 * with the protections built in rather than checked after: a manifest that stays keeps its
 * child manifests (multi-arch) and its referrers (signatures, SBOMs); a referrer whose subject
 * goes, goes with it. Pure, so a dry run and a real run plan the same thing.
 */

export interface SnapshotTag {
  name: string;
  digest: string;
  updatedAt: string;
}

export interface SnapshotManifest {
  digest: string;
  mediaType: string;
  size: number;
  updatedAt: string;
  untaggedAt: string | null;
  subject: string | null;
  childManifests: string[];
  blobs: string[];
}

export interface RepositorySnapshot {
  repository: string;
  tags: SnapshotTag[];
  manifests: SnapshotManifest[];
}

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
}

export interface RepositoryPlan {
  repository: string;
  tags: SnapshotTag[];
  /** In an order that deletes parents before children and subjects before referrers. */
  manifests: SnapshotManifest[];
}

const time = (iso: string): number => Date.parse(iso);

export function planRepository(snapshot: RepositorySnapshot, rules: PlanRules): RepositoryPlan {
  const tagsToDelete: SnapshotTag[] = [];
  if (!rules.untaggedOnly && rules.tags) {
    const eligible = snapshot.tags
      .filter((t) => rules.tags!.test(t.name) && time(t.updatedAt) < rules.cutoffMs)
      .sort((a, b) => time(b.updatedAt) - time(a.updatedAt) || a.name.localeCompare(b.name));
    tagsToDelete.push(...eligible.slice(rules.keep));
  }
  if (!rules.untagged && !rules.untaggedOnly) return { repository: snapshot.repository, tags: tagsToDelete, manifests: [] };

  const deletedTags = new Set(tagsToDelete.map((t) => t.name));
  const tagged = new Set(snapshot.tags.filter((t) => !deletedTags.has(t.name)).map((t) => t.digest));
  const byDigest = new Map(snapshot.manifests.map((m) => [m.digest, m]));
  const age = (m: SnapshotManifest) => time(rules.untaggedAge === 'untagged' ? (m.untaggedAt ?? m.updatedAt) : m.updatedAt);
  // A referrer whose subject is here follows its subject; it is never a candidate on its own.
  const followsSubject = (m: SnapshotManifest) => m.subject !== null && byDigest.has(m.subject);
  let candidates = snapshot.manifests.filter((m) => !tagged.has(m.digest) && !followsSubject(m) && age(m) < rules.cutoffMs);
  if (rules.untaggedOnly && rules.keep > 0) {
    candidates = [...candidates].sort((a, b) => age(b) - age(a) || a.digest.localeCompare(b.digest)).slice(rules.keep);
  }
  const candidateSet = new Set(candidates.map((m) => m.digest));
  const kept = new Set(snapshot.manifests.filter((m) => !candidateSet.has(m.digest) && !followsSubject(m)).map((m) => m.digest));
  // Referrers of a subject that is kept by an untagged-young or tagged root are kept too, and so on.
  const referrers = new Map<string, string[]>();
  for (const m of snapshot.manifests) if (m.subject && byDigest.has(m.subject)) referrers.set(m.subject, [...(referrers.get(m.subject) ?? []), m.digest]);
  // Tagged referrers are roots as well.
  for (const m of snapshot.manifests) if (tagged.has(m.digest)) kept.add(m.digest);
  const stack = [...kept];
  while (stack.length > 0) {
    const digest = stack.pop()!;
    const m = byDigest.get(digest);
    for (const next of [...(m?.childManifests ?? []), ...(referrers.get(digest) ?? [])]) {
      if (byDigest.has(next) && !kept.has(next)) {
        kept.add(next);
        stack.push(next);
      }
    }
  }
  const doomed = snapshot.manifests.filter((m) => !kept.has(m.digest));
  return { repository: snapshot.repository, tags: tagsToDelete, manifests: deletionOrder(doomed) };
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
