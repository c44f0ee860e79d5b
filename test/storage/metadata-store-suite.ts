import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { waitFor } from '../helpers/wait.js';
import type { ManifestRecord, MetadataStore } from '../../src/metadata/metadata-store.js';

const d = (c: string): string => `sha256:${c.repeat(64).slice(0, 64)}`;

/** A minimal manifest record (also used by the event relay's tests). */
export function manifest(repository: string, digest: string, extra: Partial<ManifestRecord> = {}): ManifestRecord {
  return {
    repository,
    digest,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    size: 3,
    content: Buffer.from('{ }'),
    artifactType: null,
    configMediaType: null,
    configDigest: null,
    subjectDigest: null,
    annotations: null,
    platform: null,
    ...extra,
  };
}

/** The contract every MetadataStore backend (SQLite, PostgreSQL) must honour. */
export function metadataStoreSuite(name: string, makeStore: () => Promise<MetadataStore>): void {
  describe(`MetadataStore contract: ${name}`, () => {
    it('links blobs per repository; unlinking one repository leaves the others', async () => {
      const store = await makeStore();
      await store.linkBlob('a/one', d('1'), 10);
      await store.linkBlob('a/two', d('1'), 10);
      assert.equal(await store.linkedBlobSize('a/one', d('1')), 10);
      assert.deepEqual(await store.repositoriesWithBlob(d('1'), 10), ['a/one', 'a/two']);
      assert.equal(await store.linkedBlobSize('a/three', d('1')), null);
      assert.equal(await store.unlinkBlob('a/one', d('1')), true);
      assert.equal(await store.unlinkBlob('a/one', d('1')), false);
      assert.equal(await store.linkedBlobSize('a/two', d('1')), 10);
      await store.unlinkBlob('a/two', d('1'));
      assert.deepEqual(await store.repositoriesWithBlob(d('1'), 10), []);
      await store.close();
    });

    it('upload sessions: create, size, finish (link + close in one step), count', async () => {
      const store = await makeStore();
      const at = new Date().toISOString();
      const session = { id: randomUUID(), repository: 'up/repo', size: 0, createdAt: at, updatedAt: at };
      await store.createUpload(session);
      assert.equal(await store.countUploads(), 1);
      await store.setUploadSize(session.id, 42);
      assert.equal((await store.getUpload(session.id))?.size, 42);
      await store.finishUpload({ ...session, size: 42 }, d('2'));
      assert.equal(await store.getUpload(session.id), null);
      assert.equal(await store.linkedBlobSize('up/repo', d('2')), 42);
      assert.equal(await store.countUploads(), 0);
      await store.close();
    });

    it('manifests, tags, missing children, deletes', async () => {
      const store = await makeStore();
      await store.linkBlob('m/repo', d('3'), 5);
      assert.deepEqual(
        await store.missingChildren('m/repo', [
          { digest: d('3'), kind: 'blob' },
          { digest: d('4'), kind: 'blob' },
          { digest: d('5'), kind: 'manifest' },
        ]),
        [{ digest: d('4'), kind: 'blob' }, { digest: d('5'), kind: 'manifest' }],
      );
      await store.putManifest(manifest('m/repo', d('5'), { platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } }), [{ digest: d('3'), kind: 'blob' }], 'v1');
      await store.putManifest(manifest('m/repo', d('5')), [], 'v2');
      const byTag = await store.getManifestByTag('m/repo', 'v1');
      assert.equal(byTag?.digest, d('5'));
      assert.deepEqual(byTag?.platform, { os: 'linux', architecture: 'arm64', variant: 'v8' });
      assert.deepEqual(Buffer.from(byTag!.content), Buffer.from('{ }'));
      assert.deepEqual(await store.listTags('m/repo', { limit: 10 }), ['v1', 'v2']);
      assert.deepEqual(await store.listTags('m/repo', { last: 'v1', limit: 10 }), ['v2']);
      assert.equal(await store.deleteTag('m/repo', 'v1'), true);
      assert.equal(await store.getManifestByTag('m/repo', 'v1'), null);
      assert.equal(await store.deleteManifest('m/repo', d('5')), true);
      assert.deepEqual(await store.listTags('m/repo', { limit: 10 }), []);
      assert.equal(await store.deleteManifest('m/repo', d('5')), false);
      await store.close();
    });

    it('a tag moves with a new push and keeps its creation time', async () => {
      const store = await makeStore();
      await store.putManifest(manifest('t/repo', d('6')), [], 'latest');
      const first = await store.getTag('t/repo', 'latest');
      // The move must get a later timestamp than the first write: wait for the clock to pass it.
      await waitFor(() => new Date().toISOString() > first!.updatedAt, { what: 'the clock to pass the first write', timeoutMs: 5_000, intervalMs: 2 });
      await store.putManifest(manifest('t/repo', d('7')), [], 'latest');
      const moved = await store.getTag('t/repo', 'latest');
      assert.equal(moved?.digest, d('7'));
      assert.equal(moved?.createdAt, first?.createdAt);
      assert.ok(moved!.updatedAt > first!.updatedAt);
      await store.close();
    });

    it('referrers by subject, filterable by artifact type; catalog in order', async () => {
      const store = await makeStore();
      await store.putManifest(manifest('r/repo', d('8'), { subjectDigest: d('9'), artifactType: 'sig', annotations: { a: 'b' } }), [], null);
      await store.putManifest(manifest('r/repo', d('a'), { subjectDigest: d('9'), artifactType: 'sbom' }), [], null);
      assert.deepEqual((await store.listReferrers('r/repo', d('9'))).map((r) => r.digest).sort(), [d('8'), d('a')]);
      const sigs = await store.listReferrers('r/repo', d('9'), 'sig');
      assert.deepEqual(sigs, [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: d('8'), size: 3, artifactType: 'sig', annotations: { a: 'b' } }]);
      await store.linkBlob('r/a', d('1'), 1);
      const catalog = await store.listRepositories({ limit: 100 });
      assert.deepEqual(catalog, [...catalog].sort());
      assert.ok(catalog.includes('r/a') && catalog.includes('r/repo'));
      assert.deepEqual(await store.listRepositories({ last: 'r/a', limit: 1 }), ['r/repo']);
      assert.ok((await store.storageUsed()) >= 7);
      await store.close();
    });

    it('journals changes in the same transaction: written with the change, in order, never without it', async () => {
      const store = await makeStore();
      const entry = (name: string, payload: unknown) => ({ name, payload });
      await store.putManifest(manifest('j/repo', d('b')), [], 'v1', (previous) => [entry('manifest.pushed', { digest: d('b'), previous })]);
      await store.putManifest(manifest('j/repo', d('c')), [], 'v1', (previous) => [entry('manifest.pushed', { digest: d('c'), previous })]);
      assert.equal(await store.deleteTag('j/repo', 'nope', [entry('tag.deleted', { tag: 'nope' })]), false);
      assert.equal(await store.deleteTag('j/repo', 'v1', [entry('tag.deleted', { tag: 'v1' })]), true);
      assert.equal(await store.deleteManifest('j/repo', d('b'), [entry('manifest.deleted', { digest: d('b') })]), true);
      assert.equal(await store.deleteManifest('j/repo', d('b'), [entry('manifest.deleted', { digest: d('b') })]), false);
      const journal = await store.readJournal(0, 100);
      assert.deepEqual(
        journal.map((e) => [e.name, e.payload]),
        [
          ['manifest.pushed', { digest: d('b'), previous: null }],
          ['manifest.pushed', { digest: d('c'), previous: d('b') }],
          ['tag.deleted', { tag: 'v1' }],
          ['manifest.deleted', { digest: d('b') }],
        ],
      );
      assert.ok(journal.every((e, i) => i === 0 || e.seq > journal[i - 1]!.seq));
      assert.deepEqual((await store.readJournal(journal[1]!.seq, 100)).map((e) => e.name), ['tag.deleted', 'manifest.deleted']);

      // A journal that cannot be written takes the change down with it.
      await assert.rejects(store.putManifest(manifest('j/repo', d('e')), [], 'v2', () => [entry('x', { big: BigInt(1) })]));
      assert.equal(await store.getManifest('j/repo', d('e')), null);
      assert.equal(await store.getTag('j/repo', 'v2'), null);

      assert.equal(await store.journalCursor('reader'), null, 'a consumer that never saved has no cursor');
      assert.equal(await store.journalHead(), (await store.readJournal(0, 100)).at(-1)!.seq);
      await store.saveJournalCursor('reader', journal[2]!.seq);
      assert.equal(await store.journalCursor('reader'), journal[2]!.seq);
      assert.equal(await store.pruneJournal(journal[2]!.seq, new Date(Date.now() + 1000).toISOString()), 3);
      assert.deepEqual((await store.readJournal(0, 100)).map((e) => e.name), ['manifest.deleted']);
      await store.close();
    });

    it('a tag named from the tags with a prefix: read and written in one transaction, journaled; concurrent callers see each other', async () => {
      const store = await makeStore();
      await store.putManifest(manifest('n/repo', d('1')), [], 'p-1');
      await store.putManifest(manifest('n/repo', d('2')), [], 'q-9');
      const seen: string[][] = [];
      const count = (tags: string[]) => {
        seen.push([...tags].sort());
        return `p-${tags.length + 1}`;
      };
      const journal = (tag: string, m: { mediaType: string; size: number }) => [{ name: 'manifest.pushed', payload: { tag, mediaType: m.mediaType, size: m.size } }];
      const added = await Promise.all([1, 2, 3, 4].map(() => store.addTagNamedFrom('n/repo', d('2'), 'p-', count, journal)));
      assert.deepEqual(added.map((a) => a!.tag).sort(), ['p-2', 'p-3', 'p-4', 'p-5']);
      assert.deepEqual(seen[0], ['p-1'], 'only tags with the prefix, q-9 left out');
      assert.equal((await store.getTag('n/repo', 'p-5'))!.digest, d('2'));
      const { mediaType, size } = manifest('n/repo', d('2'));
      const pushed = async () => (await store.readJournal(0, 100)).map((e) => e.payload);
      assert.deepEqual(await pushed(), ['p-2', 'p-3', 'p-4', 'p-5'].map((tag) => ({ tag, mediaType, size })), 'in the order the tags were added');
      assert.equal(await store.addTagNamedFrom('n/repo', d('9'), 'p-', count, journal), null, 'a manifest the repository does not hold');
      assert.equal(await store.addTagNamedFrom('nope/repo', d('2'), 'p-', count, journal), null, 'a repository that does not exist');
      // A name that cannot be written (it exists) takes the journal down with it.
      await assert.rejects(store.addTagNamedFrom('n/repo', d('2'), 'p-', () => 'p-1', journal));
      assert.equal((await store.getTag('n/repo', 'p-1'))!.digest, d('1'));
      assert.equal((await pushed()).length, 4);
      await store.close();
    });
  });
}
