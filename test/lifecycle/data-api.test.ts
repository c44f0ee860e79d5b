import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { adminCredentials, startBerth, type BerthProcess } from '../helpers/berth-process.js';
import { OciClient, mediaTypes } from '../helpers/oci-client.js';
import { api, tokenPassword, type CreatedToken } from '../helpers/management.js';
import { run } from '../helpers/commands.js';
import { waitFor } from '../helpers/wait.js';

let berth: BerthProcess;
let client: OciClient;

before(async () => {
  berth = await startBerth();
  client = new OciClient(berth.url);
});
after(async () => {
  await berth?.stop();
});

async function get<T>(path: string, who: OciClient = client): Promise<{ status: number; link: string | null; body: T }> {
  const res = await who.request('GET', path);
  return { status: res.status, link: res.headers.get('link'), body: (await res.json()) as T };
}

interface Tag { name: string; digest: string; createdTime: string; lastUpdateTime: string; signed: boolean; changeableAttributes: Record<string, boolean>; lastPulledTime: string | null; pullCount: number }
interface Manifest { digest: string; imageSize: number; mediaType: string; os?: string; architecture?: string; references?: Array<{ digest: string; os: string; architecture: string }>; tags: string[]; pullCount: number; lastPulledTime: string | null; changeableAttributes: Record<string, boolean> }

const attributes = { deleteEnabled: true, writeEnabled: true, readEnabled: true, listEnabled: true };

describe('ACR data API (/acr/v1)', () => {
  it('tags: ACR field names, lexical by default, orderby=timedesc|timeasc, n/last paging with a Link header', async () => {
    // Pushed in this order, so time order differs from name order.
    for (const tag of ['b', 'c', 'a']) await client.pushImage('data/order', tag);
    const byName = await get<{ registry: string; imageName: string; tags: Tag[] }>('/acr/v1/data/order/_tags');
    assert.equal(byName.status, 200);
    assert.equal(byName.body.imageName, 'data/order');
    assert.equal(byName.body.registry, berth.host);
    assert.deepEqual(byName.body.tags.map((t) => t.name), ['a', 'b', 'c']);
    const tag = byName.body.tags[0]!;
    assert.deepEqual(Object.keys(tag).sort(), ['changeableAttributes', 'createdTime', 'digest', 'lastPulledTime', 'lastUpdateTime', 'name', 'pullCount', 'signed']);
    assert.deepEqual(tag.changeableAttributes, attributes);
    assert.ok(!Number.isNaN(Date.parse(tag.createdTime)));

    const desc = await get<{ tags: Tag[] }>('/acr/v1/data/order/_tags?orderby=timedesc');
    assert.deepEqual(desc.body.tags.map((t) => t.name), ['a', 'c', 'b']);
    const first = await get<{ tags: Tag[] }>('/acr/v1/data/order/_tags?orderby=timeasc&n=2');
    assert.deepEqual(first.body.tags.map((t) => t.name), ['b', 'c']);
    assert.equal(first.link, '</acr/v1/data/order/_tags?last=c&n=2&orderby=timeasc>; rel="next"');
    const next = await get<{ tags: Tag[] }>(first.link!.slice(1, first.link!.indexOf('>')));
    assert.deepEqual(next.body.tags.map((t) => t.name), ['a']);
    assert.equal(next.link, null);
  });

  it('_catalog pages with Link; repository attributes; PATCH stores changeable attributes', async () => {
    await client.pushImage('data/cat-1', 'x');
    const page = await get<{ repositories: string[] }>('/acr/v1/_catalog?n=1');
    assert.equal(page.body.repositories.length, 1);
    assert.match(page.link!, /^<\/acr\/v1\/_catalog\?last=[^&]+&n=1>; rel="next"$/);
    const repo = await get<Record<string, unknown>>('/acr/v1/data/order');
    assert.equal(repo.body.imageName, 'data/order');
    assert.equal(repo.body.manifestCount, 3);
    assert.equal(repo.body.tagCount, 3);
    for (const key of ['registry', 'createdTime', 'lastUpdateTime', 'changeableAttributes', 'storage']) assert.ok(key in repo.body, key);
    const patched = await client.request('PATCH', '/acr/v1/data/order', { body: JSON.stringify({ writeEnabled: false, listEnabled: false }), headers: { 'Content-Type': 'application/json' } });
    assert.equal(patched.status, 200);
    const after = await get<{ changeableAttributes: Record<string, boolean> }>('/acr/v1/data/order');
    assert.deepEqual(after.body.changeableAttributes, { ...attributes, writeEnabled: false, listEnabled: false });
    const bad = await client.request('PATCH', '/acr/v1/data/order', { body: JSON.stringify({ writeEnabled: 'no' }), headers: { 'Content-Type': 'application/json' } });
    assert.equal(bad.status, 400);
    assert.equal(await client.errorCode(bad), 'INVALID_REQUEST');
    const unknown = await client.request('GET', '/acr/v1/data/nothing-here');
    assert.equal(unknown.status, 404);
    assert.equal(await client.errorCode(unknown), 'NAME_UNKNOWN');
  });

  it('manifests: size, media type, tags, platforms of an index', async () => {
    const amd = await client.pushImage('data/multi', 'amd', { platform: { os: 'linux', architecture: 'amd64' } });
    const arm = await client.pushImage('data/multi', 'arm', { platform: { os: 'linux', architecture: 'arm64' } });
    const index = {
      schemaVersion: 2,
      mediaType: mediaTypes.ociIndex,
      manifests: [
        { mediaType: mediaTypes.ociManifest, digest: amd.digest, size: amd.size, platform: { os: 'linux', architecture: 'amd64' } },
        { mediaType: mediaTypes.ociManifest, digest: arm.digest, size: arm.size, platform: { os: 'linux', architecture: 'arm64' } },
      ],
    };
    const { digest } = await client.pushManifest('data/multi', 'all', index);
    const shown = await get<{ manifest: Manifest }>(`/acr/v1/data/multi/_manifests/${digest}`);
    assert.equal(shown.status, 200);
    assert.equal(shown.body.manifest.mediaType, mediaTypes.ociIndex);
    assert.deepEqual(shown.body.manifest.tags, ['all']);
    assert.equal(shown.body.manifest.imageSize, Buffer.byteLength(JSON.stringify(index)));
    assert.deepEqual(
      shown.body.manifest.references!.map((r) => `${r.os}/${r.architecture}`).sort(),
      ['linux/amd64', 'linux/arm64'],
    );
    const byTag = await get<{ manifest: Manifest }>('/acr/v1/data/multi/_manifests/amd');
    assert.equal(byTag.body.manifest.digest, amd.digest);
    assert.equal(byTag.body.manifest.architecture, 'amd64');
    const list = await get<{ manifests: Manifest[] }>('/acr/v1/data/multi/_manifests?orderby=timedesc&n=2');
    assert.deepEqual(list.body.manifests.map((m) => m.digest), [digest, arm.digest]);
    assert.equal(list.link, `</acr/v1/data/multi/_manifests?last=${encodeURIComponent(arm.digest)}&n=2&orderby=timedesc>; rel="next"`);
  });

  // Configs are distinct (architectures no other test uses): only the layer is shared.
  it('storage accounting: two repositories sharing a layer, exact bytes, in the API and /metrics', async () => {
    const layer = 'a layer both repositories use '.repeat(40);
    const one = await client.pushImage('data/store-1', 'v', { layer, platform: { os: 'linux', architecture: 'ppc64le' } });
    const two = await client.pushImage('data/store-2', 'v', { layer, platform: { os: 'linux', architecture: 's390x' } });
    const configSize = (arch: string) => Buffer.byteLength(JSON.stringify({ os: 'linux', architecture: arch, rootfs: { type: 'layers', diff_ids: [] } }));
    const layerSize = Buffer.byteLength(layer);
    const s1 = (await get<{ storage: Record<string, number> }>('/acr/v1/data/store-1')).body.storage;
    const s2 = (await get<{ storage: Record<string, number> }>('/acr/v1/data/store-2')).body.storage;
    assert.deepEqual(s1, { referencedBytes: one.size + configSize('ppc64le') + layerSize, uniqueBytes: one.size + configSize('ppc64le'), sharedBytes: layerSize });
    assert.deepEqual(s2, { referencedBytes: two.size + configSize('s390x') + layerSize, uniqueBytes: two.size + configSize('s390x'), sharedBytes: layerSize });
    const metrics = await (await fetch(`${berth.url}/metrics`)).text();
    assert.match(metrics, new RegExp(`berth_repository_shared_bytes\\{repository="data/store-1"\\} ${layerSize}\\n`));
    assert.match(metrics, new RegExp(`berth_repository_unique_bytes\\{repository="data/store-2"\\} ${two.size + configSize('s390x')}\\n`));
    assert.match(metrics, /berth_registry_referenced_bytes \d+/);
  });

  it('pull counts and last pulled time after real skopeo pulls, flushed in a batch', async () => {
    await client.pushImage('data/pulled', 'v1');
    for (let i = 0; i < 3; i++) await run('skopeo', ['inspect', '--tls-verify=false', '--creds', `admin:${adminCredentials.password}`, '--raw', `docker://${berth.host}/data/pulled:v1`]);
    const tag = await waitFor(
      async () => {
        const t = (await get<{ tag: Tag }>('/acr/v1/data/pulled/_tags/v1')).body.tag;
        return t.pullCount === 3 ? t : null;
      },
      { what: 'three pulls of data/pulled:v1 recorded' },
    );
    assert.ok(tag.lastPulledTime && Date.parse(tag.lastPulledTime) >= Date.parse(tag.createdTime));
    const manifest = (await get<{ manifest: Manifest }>('/acr/v1/data/pulled/_manifests/v1')).body.manifest;
    assert.equal(manifest.pullCount, 3);
    // A listing shows them too.
    const listed = (await get<{ tags: Tag[] }>('/acr/v1/data/pulled/_tags')).body.tags[0]!;
    assert.equal(listed.pullCount, 3);
  });

  it('pulls counted but not yet flushed are written at shutdown and survive a restart', async () => {
    const own = await startBerth();
    try {
      const c = new OciClient(own.url);
      const { digest } = await c.pushImage('data/restart', 'v1');
      for (let i = 0; i < 5; i++) assert.equal((await c.request('GET', '/v2/data/restart/manifests/v1')).status, 200);
      assert.equal((await c.request('GET', `/v2/data/restart/manifests/${digest}`)).status, 200);
      // Stopped at once: whether or not the timed flush has run, close flushes the rest.
      assert.equal(await own.stop(), 0);
      const again = await startBerth({ dataDir: own.dataDir });
      try {
        const c2 = new OciClient(again.url);
        const tag = (await get<{ tag: Tag }>('/acr/v1/data/restart/_tags/v1', c2)).body.tag;
        const manifest = (await get<{ manifest: Manifest }>(`/acr/v1/data/restart/_manifests/${digest}`, c2)).body.manifest;
        assert.equal(tag.pullCount, 5);
        assert.equal(manifest.pullCount, 6);
      } finally {
        await again.stop();
      }
    } finally {
      await own.stop();
    }
  });

  it('DELETE by tag deletes the manifest and reports every tag; DELETE of a tag only untags', async () => {
    const { digest } = await client.pushImage('data/del', 'one');
    const manifest = (await get<{ manifest: Manifest }>(`/acr/v1/data/del/_manifests/${digest}`)).body.manifest;
    await client.pushManifest('data/del', 'two', JSON.parse(JSON.stringify(await (await client.request('GET', `/v2/data/del/manifests/${digest}`)).json())));
    await client.pushManifest('data/del', 'three', JSON.parse(JSON.stringify(await (await client.request('GET', `/v2/data/del/manifests/${digest}`)).json())));
    assert.equal(manifest.digest, digest);
    const untag = await client.request('DELETE', '/acr/v1/data/del/_tags/three');
    assert.equal(untag.status, 202);
    assert.equal((await client.request('GET', `/v2/data/del/manifests/${digest}`)).status, 200);
    const deleted = await client.request('DELETE', '/acr/v1/data/del/_manifests/one');
    assert.equal(deleted.status, 202);
    assert.deepEqual(await deleted.json(), { manifestsDeleted: [digest], tagsDeleted: ['one', 'two'] });
    assert.equal((await client.request('GET', `/v2/data/del/manifests/${digest}`)).status, 404);
  });

  it('a pull-only token lists and reads but may not PATCH or DELETE (403 DENIED in the registry format)', async () => {
    await client.pushImage('data/guarded', 'v1');
    const created = await api<CreatedToken>(berth.url, adminCredentials, 'POST', '/api/v1/tokens', { name: 'data-reader', rules: [{ repository: 'data/guarded', actions: ['content/read', 'metadata/read'] }] });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const reader = new OciClient(berth.url, { username: 'data-reader', password: tokenPassword(created.body) });
    assert.equal((await reader.request('GET', '/acr/v1/data/guarded/_tags')).status, 200);
    assert.equal((await reader.request('GET', '/acr/v1/data/guarded')).status, 200);
    for (const [method, path] of [['PATCH', '/acr/v1/data/guarded'], ['DELETE', '/acr/v1/data/guarded/_manifests/v1'], ['DELETE', '/acr/v1/data/guarded/_tags/v1']] as const) {
      const res = await reader.request(method, path, { body: method === 'PATCH' ? JSON.stringify({ deleteEnabled: false }) : undefined, headers: method === 'PATCH' ? { 'Content-Type': 'application/json' } : {} });
      assert.equal(res.status, 403, `${method} ${path}`);
      assert.equal(await reader.errorCode(res), 'DENIED');
    }
    assert.equal((await reader.request('GET', '/acr/v1/data/order/_tags')).status, 403);
    const anonymous = new OciClient(berth.url, null);
    const res = await anonymous.request('GET', '/acr/v1/data/guarded/_tags');
    assert.equal(res.status, 401);
    assert.match(res.headers.get('www-authenticate') ?? '', /scope="repository:data\/guarded:pull"/);
  });
});
