import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compilePolicy, emptyRules, normalizeRules, type PolicyRules } from '../../src/lifecycle/policy.js';
import { planPolicies } from '../../src/lifecycle/policy-plan.js';
import type { RepositorySnapshot, SnapshotManifest, SnapshotTag } from '../../src/lifecycle/purge-plan.js';
import { RegistryError } from '../../src/registry/errors.js';
import { snapshotManifest, snapshotTag } from './snapshot-fixtures.js';

const now = Date.parse('2026-06-01T00:00:00.000Z');
const daysAgo = (d: number) => new Date(now - d * 86_400_000).toISOString();
const manifest = (digest: string, extra: Partial<SnapshotManifest> = {}) => snapshotManifest(digest, daysAgo(100), extra);
const tag = (name: string, digest: string, ageDays: number, extra: Partial<SnapshotTag> = {}) => snapshotTag(name, digest, daysAgo(ageDays), extra);
const policy = (name: string, rules: Partial<PolicyRules>, repository = '.*') => compilePolicy({ name, repository, rules: normalizeRules(rules) });

/** A repository with one tag per manifest: `tag(name) → m-name`, the tag's age in days. */
function repo(tags: Array<[string, number]>, extra: Partial<RepositorySnapshot> = {}): RepositorySnapshot {
  return {
    repository: 'r',
    locked: false,
    tags: tags.map(([name, age]) => tag(name, `m-${name}`, age)),
    manifests: tags.map(([name, age]) => manifest(`m-${name}`, { updatedAt: daysAgo(age) })),
    ...extra,
  };
}
const deletedTags = (p: ReturnType<typeof planPolicies>) => p.plan.tags.map((t) => t.name).sort();
const deletedManifests = (p: ReturnType<typeof planPolicies>) => p.plan.manifests.map((m) => m.digest).sort();

describe('lifecycle policy rules', () => {
  it('keep-newest counts per pattern: each rule keeps its own N, never one count shared across the rule set', () => {
    const snapshot = repo([
      ['release-1', 50],
      ['release-2', 40],
      ['release-3', 30],
      ['dev-1', 25],
      ['dev-2', 20],
      ['dev-3', 15],
      ['dev-4', 10],
    ]);
    const p = policy('p', { keepNewest: [{ count: 2, pattern: '^release-' }, { count: 3, pattern: '^dev-' }], deleteTags: [{ pattern: '.*', olderThan: '1d' }] });
    const plan = planPolicies(snapshot, [p], [p], now);
    // A shared count of 5 over the newest tags would keep dev-1..4 and release-3, deleting release-2.
    assert.deepEqual(deletedTags(plan), ['dev-1', 'release-1']);
    assert.deepEqual(plan.tagReasons.get('dev-1'), { policy: 'p', rule: 'delete-tags ".*" older-than 1d' });
  });

  it('keep wins over delete, across policies; excludes are never touched; delete needs the age', () => {
    const snapshot = repo([
      ['v1.0', 100],
      ['dev-a', 100],
      ['dev-b', 100],
      ['dev-young', 0.5],
      ['pinned-dev', 100],
    ]);
    const deleter = policy('deleter', { deleteTags: [{ pattern: '^(dev|v|pinned)', olderThan: '1d' }] });
    const keeper = policy('keeper', { keepTags: ['^v\\d'], exclude: ['^pinned-'], deleteUntaggedAfter: '30d' });
    const plan = planPolicies(snapshot, [deleter], [deleter, keeper], now);
    assert.deepEqual(deletedTags(plan), ['dev-a', 'dev-b']);
    // Alone, the deleter takes what the other policy keeps.
    assert.deepEqual(deletedTags(planPolicies(snapshot, [deleter], [deleter], now)), ['dev-a', 'dev-b', 'pinned-dev', 'v1.0']);
  });

  it('keep-pushed-within and keep-pulled-within hold tags (pulled by tag or by digest) and untagged manifests', () => {
    const snapshot: RepositorySnapshot = {
      repository: 'r',
      locked: false,
      tags: [
        tag('pushed-recently', 'm1', 3),
        tag('pulled-by-tag', 'm2', 100, { lastPulledAt: daysAgo(1) }),
        tag('pulled-by-digest', 'm3', 100),
        tag('pulled-long-ago', 'm4', 100, { lastPulledAt: daysAgo(60) }),
        tag('idle', 'm5', 100),
      ],
      manifests: [
        manifest('m1', { updatedAt: daysAgo(3) }),
        manifest('m2'),
        manifest('m3', { lastPulledAt: daysAgo(2) }),
        manifest('m4'),
        manifest('m5'),
        manifest('untagged-pulled', { untaggedAt: daysAgo(50), lastPulledAt: daysAgo(1) }),
        manifest('untagged-idle', { untaggedAt: daysAgo(50) }),
      ],
    };
    const p = policy('p', { keepPushedWithin: '7d', keepPulledWithin: '30d', deleteTags: [{ pattern: '.*', olderThan: '1d' }], deleteUntaggedAfter: '0d' });
    const plan = planPolicies(snapshot, [p], [p], now);
    assert.deepEqual(deletedTags(plan), ['idle', 'pulled-long-ago']);
    // Untagged after 0d: the manifests this evaluation untags go too, with the idle untagged one.
    assert.deepEqual(deletedManifests(plan), ['m4', 'm5', 'untagged-idle']);
    assert.deepEqual(plan.manifestReasons.get('m4'), { policy: 'p', rule: 'delete-untagged-after 0d' });
  });

  it('delete-untagged-after D counts from the untagging; a tag deleted now untags its manifest from now', () => {
    const snapshot: RepositorySnapshot = {
      repository: 'r',
      locked: false,
      tags: [tag('old', 'm-old', 100)],
      manifests: [manifest('m-old'), manifest('untagged-3d', { untaggedAt: daysAgo(3), updatedAt: daysAgo(90) }), manifest('untagged-1d', { untaggedAt: daysAgo(1), updatedAt: daysAgo(90) }), manifest('legacy', { untaggedAt: null, updatedAt: daysAgo(5) })],
    };
    const p = policy('p', { deleteTags: [{ pattern: '^old$', olderThan: '30d' }], deleteUntaggedAfter: '2d' });
    const plan = planPolicies(snapshot, [p], [p], now);
    assert.deepEqual(deletedTags(plan), ['old']);
    assert.deepEqual(deletedManifests(plan), ['legacy', 'untagged-3d']);
  });

  it('a locked tag stays with its manifest, and a locked repository keeps everything (policies never unlock)', () => {
    const snapshot = repo([
      ['locked', 100],
      ['open', 100],
    ]);
    snapshot.tags[0]!.locked = true;
    const p = policy('p', { deleteTags: [{ pattern: '.*', olderThan: '1d' }], deleteUntaggedAfter: '0d' });
    const plan = planPolicies(snapshot, [p], [p], now);
    assert.deepEqual(deletedTags(plan), ['open']);
    assert.deepEqual(deletedManifests(plan), ['m-open']);
    assert.deepEqual(plan.plan.keptByLock.tags, ['locked']);
    const lockedRepo = planPolicies({ ...snapshot, locked: true }, [p], [p], now);
    assert.deepEqual(deletedTags(lockedRepo), []);
    assert.deepEqual(deletedManifests(lockedRepo), []);
  });

  it('children of a kept index and referrers of a kept manifest stay; referrers go with their subject, naming its rule', () => {
    const snapshot: RepositorySnapshot = {
      repository: 'r',
      locked: false,
      tags: [tag('v1', 'index', 100), tag('dev', 'gone', 100)],
      manifests: [
        manifest('index', { childManifests: ['amd64', 'arm64'], mediaType: 'application/vnd.oci.image.index.v1+json' }),
        manifest('amd64', { untaggedAt: daysAgo(100) }),
        manifest('arm64', { untaggedAt: daysAgo(100) }),
        manifest('index-sig', { subject: 'index', untaggedAt: daysAgo(100) }),
        manifest('gone'),
        manifest('gone-sbom', { subject: 'gone', untaggedAt: daysAgo(100), updatedAt: daysAgo(0) }),
        manifest('gone-sbom-sig', { subject: 'gone-sbom', untaggedAt: daysAgo(100), updatedAt: daysAgo(0) }),
      ],
    };
    const p = policy('p', { keepTags: ['^v'], deleteTags: [{ pattern: '.*', olderThan: '1d' }], deleteUntaggedAfter: '0d' });
    const plan = planPolicies(snapshot, [p], [p], now);
    assert.deepEqual(deletedTags(plan), ['dev']);
    assert.deepEqual(plan.plan.manifests.map((m) => m.digest), ['gone', 'gone-sbom', 'gone-sbom-sig']);
    assert.deepEqual(plan.manifestReasons.get('gone-sbom'), { policy: 'p', rule: 'delete-untagged-after 0d', referrerOf: 'gone' });
    assert.deepEqual(plan.manifestReasons.get('gone-sbom-sig'), { policy: 'p', rule: 'delete-untagged-after 0d', referrerOf: 'gone-sbom' });
  });

  it('without an untagged rule, deleting tags leaves their manifests', () => {
    const snapshot = repo([['old', 100]]);
    const p = policy('p', { deleteTags: [{ pattern: '.*', olderThan: '1d' }] });
    const plan = planPolicies(snapshot, [p], [p], now);
    assert.deepEqual(deletedTags(plan), ['old']);
    assert.deepEqual(deletedManifests(plan), []);
  });

  it('validation names the bad rule; a policy needs a delete rule', () => {
    const invalid = (rules: Partial<PolicyRules>, message: RegExp) =>
      assert.throws(
        () => normalizeRules(rules),
        (e: unknown) => e instanceof RegistryError && e.code === 'INVALID_REQUEST' && message.test(e.message),
      );
    invalid({ keepTags: ['^v'] }, /needs a delete rule/);
    invalid({ deleteTags: [{ pattern: '(', olderThan: '1d' }] }, /invalid --delete-tags pattern "\("/);
    invalid({ deleteTags: [{ pattern: '.*', olderThan: '1y' }] }, /invalid --older-than "1y"/);
    invalid({ deleteUntaggedAfter: 'soon' }, /invalid --delete-untagged-after "soon"/);
    invalid({ deleteUntaggedAfter: '1d', keepNewest: [{ count: 0, pattern: '.*' }] }, /--keep-newest count 0/);
    invalid({ deleteUntaggedAfter: '1d', exclude: ['[a-'] }, /invalid --exclude pattern/);
    assert.deepEqual(normalizeRules({ deleteUntaggedAfter: '1d', keepNewest: [{ count: 2 } as never] }), { ...emptyRules(), deleteUntaggedAfter: '1d', keepNewest: [{ count: 2, pattern: '.*' }] });
  });

  it('the repository pattern is anchored and case-insensitive, as purge --filter', () => {
    const p = policy('p', { deleteUntaggedAfter: '1d' }, 'Team/.*');
    assert.ok(p.repository.test('team/app'));
    assert.ok(!p.repository.test('other/team/app'));
  });
});
