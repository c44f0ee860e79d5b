/**
 * What lifecycle policies delete in one repository, decided from a snapshot (pure, so a preview
 * and the evaluation after it plan the same thing). The rules choose; `planDeletions` adds the
 * protections (children of a kept index, referrers of a kept manifest, locks) and the order.
 *
 * How rules combine, over every policy whose repository pattern matches:
 * - a tag is deleted only if a delete rule of an acting policy selects it and nothing holds it:
 *   an exclude or a keep rule of any matching policy holds it (keep wins over delete);
 * - `keep-newest N:RE` counts on its own: the N newest tags matching RE stay, whatever other keep
 *   rules, in this policy or another, hold (per pattern, never one count shared across a rule set);
 * - an untagged manifest goes when an acting policy's `delete-untagged-after D` says so, counting
 *   from when it lost its last tag (a tag deleted by this very evaluation: from now, so only D = 0
 *   takes its manifest along), unless a keep-pushed-within or keep-pulled-within rule holds it.
 */
import type { CompiledPolicy } from './policy.js';
import { describeDeleteTags, describeDeleteUntagged } from './policy.js';
import { newestFirst, planDeletions, snapshotTime, type RepositoryPlan, type RepositorySnapshot, type SnapshotManifest, type SnapshotTag } from './purge-plan.js';

/** The rule that chose a deletion; for a referrer that goes with its subject, that subject's rule. */
export interface DeletionReason {
  policy: string;
  rule: string;
  /** Set when the manifest is a referrer deleted with its subject (this digest). */
  referrerOf?: string;
}

export interface PolicyPlan {
  plan: RepositoryPlan;
  tagReasons: Map<string, DeletionReason>;
  manifestReasons: Map<string, DeletionReason>;
}

/**
 * `acting`: the policies whose delete rules apply (every enabled one for the schedule); `keeping`:
 * every policy whose keep rules and excludes apply (the acting ones and every other enabled one),
 * all already matched against this repository.
 */
export function planPolicies(snapshot: RepositorySnapshot, acting: CompiledPolicy[], keeping: CompiledPolicy[], nowMs: number): PolicyPlan {
  const holders = unique([...acting, ...keeping]);
  const byDigest = new Map(snapshot.manifests.map((m) => [m.digest, m]));
  const pulledWithin = (at: string | null, ms: number) => at !== null && snapshotTime(at) >= nowMs - ms;
  const tagPulled = (t: SnapshotTag) => [t.lastPulledAt, byDigest.get(t.digest)?.lastPulledAt ?? null];

  const newestKept = new Set<string>();
  for (const policy of holders) {
    for (const keep of policy.keepNewest) {
      for (const t of snapshot.tags.filter((t) => keep.regex.test(t.name)).sort(newestFirst).slice(0, keep.count)) newestKept.add(t.name);
    }
  }
  const held = (t: SnapshotTag): boolean =>
    newestKept.has(t.name) ||
    holders.some(
      (p) =>
        p.exclude.some((e) => e.regex.test(t.name)) ||
        p.keepTags.some((k) => k.regex.test(t.name)) ||
        (p.keepPushedWithinMs !== null && snapshotTime(t.updatedAt) >= nowMs - p.keepPushedWithinMs) ||
        (p.keepPulledWithinMs !== null && tagPulled(t).some((at) => pulledWithin(at, p.keepPulledWithinMs!))),
    );

  const tagReasons = new Map<string, DeletionReason>();
  const tags: SnapshotTag[] = [];
  for (const t of [...snapshot.tags].sort((a, b) => a.name.localeCompare(b.name))) {
    if (held(t)) continue;
    for (const policy of acting) {
      const rule = policy.deleteTags.find((d) => d.regex.test(t.name) && snapshotTime(t.updatedAt) < nowMs - d.olderThanMs);
      if (rule) {
        tagReasons.set(t.name, { policy: policy.name, rule: describeDeleteTags(rule) });
        tags.push(t);
        break;
      }
    }
  }

  const untaggedRules = acting.filter((p) => p.deleteUntaggedAfter !== null);
  const chosenUntagged = new Map<string, DeletionReason>();
  const taggedNow = new Set(snapshot.tags.map((t) => t.digest));
  const manifestHeld = (m: SnapshotManifest) =>
    holders.some(
      (p) => (p.keepPushedWithinMs !== null && snapshotTime(m.updatedAt) >= nowMs - p.keepPushedWithinMs) || (p.keepPulledWithinMs !== null && pulledWithin(m.lastPulledAt, p.keepPulledWithinMs)),
    );
  const untagged =
    untaggedRules.length === 0
      ? null
      : (candidates: SnapshotManifest[]) =>
          candidates.filter((m) => {
            if (manifestHeld(m)) return false;
            // Still tagged in the snapshot: it loses its last tag in this evaluation, so untagged from now.
            const since = taggedNow.has(m.digest) ? nowMs : snapshotTime(m.untaggedAt ?? m.updatedAt);
            const policy = untaggedRules.find((p) => since <= nowMs - p.deleteUntaggedAfter!.ms);
            if (!policy) return false;
            chosenUntagged.set(m.digest, { policy: policy.name, rule: describeDeleteUntagged(policy.deleteUntaggedAfter!.text) });
            return true;
          });

  const plan = planDeletions(snapshot, { tags, untagged, includeLocked: false });
  const manifestReasons = new Map<string, DeletionReason>();
  for (const m of plan.manifests) {
    const own = chosenUntagged.get(m.digest);
    if (own) {
      manifestReasons.set(m.digest, own);
      continue;
    }
    // A referrer goes with its subject: name the rule that took the subject (walking up nested referrers).
    let subject = m.subject;
    const seen = new Set<string>();
    while (subject !== null && !chosenUntagged.has(subject) && !seen.has(subject)) {
      seen.add(subject);
      subject = byDigest.get(subject)?.subject ?? null;
    }
    const root = subject === null ? undefined : chosenUntagged.get(subject);
    manifestReasons.set(m.digest, { policy: root?.policy ?? acting[0]?.name ?? '', rule: root?.rule ?? 'referrer of a deleted subject', ...(m.subject ? { referrerOf: m.subject } : {}) });
  }
  return { plan, tagReasons, manifestReasons };
}

function unique(policies: CompiledPolicy[]): CompiledPolicy[] {
  const seen = new Set<string>();
  return policies.filter((p) => !seen.has(p.name) && (seen.add(p.name), true));
}
