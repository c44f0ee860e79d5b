import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { MetadataStore } from '../../src/metadata/metadata-store.js';
import type { RepositoryMetadataStore } from '../../src/metadata/repository-metadata-store.js';
import { RegistryError } from '../../src/registry/errors.js';
import { manifest } from './metadata-store-suite.js';

const d = (c: string): string => `sha256:${c.repeat(64).slice(0, 64)}`;

/** Rejects with DENIED and this message (the store refuses inside its transaction). */
async function denied(work: Promise<unknown>, message: string): Promise<void> {
  await assert.rejects(work, (error: unknown) => error instanceof RegistryError && error.code === 'DENIED' && error.message === message);
}

/**
 * The lock contract every MetadataStore backend must honour (the attributes are set through the
 * RepositoryMetadataStore on the same database): refusals come from the store itself, so no
 * caller can slip past them.
 */
export function lockContractSuite(name: string, makeStores: () => Promise<{ store: MetadataStore; attributes: RepositoryMetadataStore }>): void {
  describe(`MetadataStore lock contract: ${name}`, () => {
    it('write and delete locks refuse in the store; the same digest re-pushes onto a locked tag', async () => {
      const { store, attributes } = await makeStores();
      await store.putManifest(manifest('l/repo', d('1')), [], 'v1');
      await store.putManifest(manifest('l/repo', d('2')), [], 'v2');
      await attributes.updateAttributes({ kind: 'tag', repository: 'l/repo', tag: 'v1' }, { writeEnabled: false });
      const tagLocked = 'tag "v1" in repository "l/repo" is locked: writeEnabled is false';
      await denied(store.putManifest(manifest('l/repo', d('2')), [], 'v1'), tagLocked);
      await store.putManifest(manifest('l/repo', d('1')), [], 'v1');
      await denied(store.deleteTag('l/repo', 'v1'), tagLocked);
      await denied(store.deleteManifest('l/repo', d('1')), tagLocked);
      assert.equal((await store.getTag('l/repo', 'v1'))?.digest, d('1'));

      await store.putManifest(manifest('l/repo', d('3')), [], null);
      await attributes.updateAttributes({ kind: 'manifest', repository: 'l/repo', digest: d('3') }, { deleteEnabled: false });
      const manifestLocked = `manifest "${d('3')}" in repository "l/repo" is locked: deleteEnabled is false`;
      await denied(store.deleteManifestIfUnused('l/repo', d('3'), []), manifestLocked);
      await denied(store.deleteManifest('l/repo', d('3')), manifestLocked);
      assert.ok(await store.getManifest('l/repo', d('3')));

      await denied(store.deleteRepositoryContent('l/repo', () => []), tagLocked);
      assert.deepEqual(await store.listTags('l/repo', { limit: 10 }), ['v1', 'v2']);

      await store.linkBlob('l/repo', d('b'), 5);
      await attributes.updateAttributes({ kind: 'repository', repository: 'l/repo' }, { writeEnabled: false });
      const repoLocked = 'repository "l/repo" is locked: writeEnabled is false';
      await denied(store.putManifest(manifest('l/repo', d('4')), [], null), repoLocked);
      await denied(store.deleteTag('l/repo', 'v2'), repoLocked);
      await denied(store.unlinkBlob('l/repo', d('b')), repoLocked);
      await denied(store.addTagNamedFrom('l/repo', d('2'), 'p-', () => 'p-1', () => []), repoLocked);
      assert.equal(await store.getManifest('l/repo', d('4')), null);

      await attributes.updateAttributes({ kind: 'repository', repository: 'l/repo' }, { writeEnabled: true });
      await attributes.updateAttributes({ kind: 'tag', repository: 'l/repo', tag: 'v1' }, { writeEnabled: true });
      await attributes.updateAttributes({ kind: 'manifest', repository: 'l/repo', digest: d('3') }, { deleteEnabled: true });
      const deleted = await store.deleteRepositoryContent('l/repo', (ms) => ms.map((m) => ({ name: 'manifest.deleted', payload: m.digest })));
      assert.deepEqual(deleted.map((m) => [m.digest, m.tags]), [[d('1'), ['v1']], [d('2'), ['v2']], [d('3'), []]]);
      assert.deepEqual((await store.readJournal(0, 100)).map((e) => e.payload), [d('1'), d('2'), d('3')]);
      await store.close();
    });

    it('read flags come with the manifest and the blob link; list locks hide from listings only', async () => {
      const { store, attributes } = await makeStores();
      await store.putManifest(manifest('r/repo', d('1')), [], 'v1');
      await store.linkBlob('r/repo', d('b'), 5);
      assert.deepEqual((await store.getManifestByTag('r/repo', 'v1'))?.readEnabled, { repository: true, manifest: true, tag: true });
      await attributes.updateAttributes({ kind: 'tag', repository: 'r/repo', tag: 'v1' }, { readEnabled: false, listEnabled: false });
      await attributes.updateAttributes({ kind: 'repository', repository: 'r/repo' }, { readEnabled: false, listEnabled: false });
      assert.deepEqual((await store.getManifestByTag('r/repo', 'v1'))?.readEnabled, { repository: false, manifest: true, tag: false });
      assert.deepEqual((await store.getManifest('r/repo', d('1')))?.readEnabled, { repository: false, manifest: true });
      assert.deepEqual(await store.linkedBlob('r/repo', d('b')), { size: 5, repositoryReadEnabled: false });
      assert.deepEqual(await store.listRepositories({ limit: 10 }), []);
      assert.deepEqual(await store.listTags('r/repo', { limit: 10 }), []);
      assert.equal(await store.repositoryExists('r/repo'), true);
      await store.close();
    });
  });
}
