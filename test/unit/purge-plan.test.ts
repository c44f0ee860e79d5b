import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { planRepository, type PlanRules, type RepositorySnapshot, type SnapshotManifest, type SnapshotTag } from '../../src/lifecycle/purge-plan.js';
import { snapshotManifest, snapshotTag } from './snapshot-fixtures.js';

const old = '2020-01-01T00:00:00.000Z';
const manifest = (digest: string, extra: Partial<SnapshotManifest> = {}) => snapshotManifest(digest, old, { untaggedAt: old, ...extra });
const tag = (name: string, digest: string, updatedAt: string, extra: Partial<SnapshotTag> = {}) => snapshotTag(name, digest, updatedAt, extra);
const rules = (extra: Partial<PlanRules> = {}): PlanRules => ({ tags: /.*/, cutoffMs: Date.now(), keep: 0, untagged: true, untaggedOnly: false, untaggedAge: 'updated', ...extra });

describe('purge plans, protected by construction', () => {
  it('an index that stays keeps its children, recursively; one that goes takes them, parents first', () => {
    const snapshot: RepositorySnapshot = {
      repository: 'r',
      locked: false,
      tags: [tag('keep', 'kept-index', new Date().toISOString())],
      manifests: [
        manifest('kept-index', { childManifests: ['nested-index'] }),
        manifest('nested-index', { childManifests: ['child-a'] }),
        manifest('child-a'),
        manifest('gone-index', { childManifests: ['child-b'] }),
        manifest('child-b'),
      ],
    };
    const plan = planRepository(snapshot, rules({ tags: /^nothing$/ }));
    assert.deepEqual(plan.manifests.map((m) => m.digest), ['gone-index', 'child-b']);
  });

  it('referrers follow their subject, even when young; a referrer of a kept subject stays even when old', () => {
    const young = new Date(Date.now() + 60_000).toISOString();
    const snapshot: RepositorySnapshot = {
      repository: 'r',
      locked: false,
      tags: [tag('v1', 'kept', young)],
      manifests: [manifest('kept'), manifest('kept-sig', { subject: 'kept' }), manifest('gone'), manifest('gone-sbom', { subject: 'gone', updatedAt: young }), manifest('orphan-sig', { subject: 'absent' })],
    };
    const plan = planRepository(snapshot, rules({ tags: /^nothing$/ }));
    assert.deepEqual(plan.manifests.map((m) => m.digest), ['gone', 'orphan-sig', 'gone-sbom']);
  });

  it('--untagged-only --keep N keeps the N newest untagged manifests', () => {
    const at = (m: number) => new Date(Date.UTC(2020, 0, 1, 0, m)).toISOString();
    const snapshot: RepositorySnapshot = { repository: 'r', locked: false, tags: [], manifests: [1, 2, 3, 4].map((m) => manifest(`m${m}`, { updatedAt: at(m) })) };
    const plan = planRepository(snapshot, rules({ untaggedOnly: true, untagged: false, tags: null, keep: 2 }));
    assert.deepEqual(plan.manifests.map((m) => m.digest).sort(), ['m1', 'm2']);
  });

  it('nothing is older than a cutoff before every push', () => {
    const snapshot: RepositorySnapshot = { repository: 'r', locked: false, tags: [tag('a', 'm', old)], manifests: [manifest('m'), manifest('n')] };
    const plan = planRepository(snapshot, rules({ cutoffMs: Date.now() - 150 * 365.25 * 86_400_000 }));
    assert.deepEqual(plan, { repository: 'r', tags: [], manifests: [], keptByLock: { tags: [], manifests: [] } });
  });

  it('a locked tag stays, and so does its manifest with its children and referrers; include-locked deletes them', () => {
    const snapshot: RepositorySnapshot = {
      repository: 'r',
      locked: false,
      tags: [tag('v1', 'index', old, { locked: true }), tag('v2', 'plain', old)],
      manifests: [manifest('index', { childManifests: ['child'] }), manifest('child'), manifest('sig', { subject: 'index' }), manifest('plain')],
    };
    const plan = planRepository(snapshot, rules());
    assert.deepEqual(plan.tags.map((t) => t.name), ['v2']);
    assert.deepEqual(plan.manifests.map((m) => m.digest), ['plain']);
    // The tag's lock is what kept them: its manifest is still tagged, so only the tag counts.
    assert.deepEqual(plan.keptByLock, { tags: ['v1'], manifests: [] });
    const unlocked = planRepository(snapshot, rules({ includeLocked: true }));
    assert.deepEqual(unlocked.tags.map((t) => t.name).sort(), ['v1', 'v2']);
    assert.deepEqual(unlocked.manifests.map((m) => m.digest).sort(), ['child', 'index', 'plain', 'sig']);
  });

  it('a locked untagged manifest stays with its children; a locked repository keeps everything, include-locked or not', () => {
    const manifests = [manifest('locked-index', { locked: true, childManifests: ['child'] }), manifest('child'), manifest('free')];
    const plan = planRepository({ repository: 'r', locked: false, tags: [], manifests }, rules({ untaggedOnly: true, untagged: false, tags: null }));
    assert.deepEqual(plan.manifests.map((m) => m.digest), ['free']);
    assert.deepEqual(plan.keptByLock.manifests, ['child', 'locked-index']);
    const lockedRepository: RepositorySnapshot = { repository: 'r', locked: true, tags: [tag('a', 'free', old)], manifests };
    const none = planRepository(lockedRepository, rules({ includeLocked: true }));
    assert.deepEqual([none.tags, none.manifests], [[], []]);
    assert.deepEqual(none.keptByLock.tags, ['a']);
  });
});
