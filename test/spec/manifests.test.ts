import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { serverForSuite } from '../helpers/berth-process.js';
import { mediaTypes, sha256 } from '../helpers/oci-client.js';

const suite = serverForSuite();

describe('manifest push and pull', () => {
  it('PUT by tag, then GET/HEAD by tag and by digest with the right headers', async () => {
    const { digest, size, manifest } = await suite.client.pushImage('man/app', 'v1');
    for (const ref of ['v1', digest]) {
      const get = await suite.client.request('GET', `/v2/man/app/manifests/${ref}`, { headers: { Accept: mediaTypes.ociManifest } });
      assert.equal(get.status, 200);
      assert.equal(get.headers.get('content-type'), mediaTypes.ociManifest);
      assert.equal(get.headers.get('docker-content-digest'), digest);
      assert.equal(get.headers.get('content-length'), String(size));
      assert.deepEqual(await get.json(), manifest);
      const head = await suite.client.request('HEAD', `/v2/man/app/manifests/${ref}`);
      assert.equal(head.status, 200);
      assert.equal(head.headers.get('content-length'), String(size));
      assert.equal(head.headers.get('docker-content-digest'), digest);
    }
  });

  it('PUT answers 201 with Location and Docker-Content-Digest; PUT by digest must match content', async () => {
    const config = await suite.client.pushBlob('man/bydigest', '{}');
    const manifest = { schemaVersion: 2, mediaType: mediaTypes.ociManifest, config: { ...config, mediaType: mediaTypes.ociEmpty }, layers: [] };
    const body = JSON.stringify(manifest);
    const res = await suite.client.request('PUT', `/v2/man/bydigest/manifests/${sha256(body)}`, { body, headers: { 'Content-Type': mediaTypes.ociManifest } });
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('location'), `/v2/man/bydigest/manifests/${sha256(body)}`);
    assert.equal(res.headers.get('docker-content-digest'), sha256(body));
    const wrong = await suite.client.request('PUT', `/v2/man/bydigest/manifests/${sha256('x')}`, { body, headers: { 'Content-Type': mediaTypes.ociManifest } });
    assert.equal(wrong.status, 400);
    assert.equal(await suite.client.errorCode(wrong), 'DIGEST_INVALID');
  });

  it('keeps the exact bytes pushed (whitespace and key order included)', async () => {
    const config = await suite.client.pushBlob('man/bytes', '{}');
    const body = `{\n  "schemaVersion": 2,\n  "mediaType": "${mediaTypes.ociManifest}",\n  "layers": [],\n  "config": {"size": ${config.size}, "digest": "${config.digest}", "mediaType": "${mediaTypes.ociEmpty}"}\n}\n`;
    const res = await suite.client.request('PUT', '/v2/man/bytes/manifests/pretty', { body, headers: { 'Content-Type': mediaTypes.ociManifest } });
    assert.equal(res.status, 201);
    const get = await suite.client.request('GET', '/v2/man/bytes/manifests/pretty');
    assert.equal(await get.text(), body);
    assert.equal(get.headers.get('docker-content-digest'), sha256(body));
  });

  it('stores Docker schema2 manifests and manifest lists with their media types', async () => {
    const config = await suite.client.pushBlob('man/docker', JSON.stringify({ os: 'linux', architecture: 'arm64' }));
    const layer = await suite.client.pushBlob('man/docker', 'docker layer');
    const manifest = {
      schemaVersion: 2,
      mediaType: mediaTypes.dockerManifest,
      config: { ...config, mediaType: 'application/vnd.docker.container.image.v1+json' },
      layers: [{ ...layer, mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip' }],
    };
    const { digest, size } = { digest: sha256(JSON.stringify(manifest)), size: JSON.stringify(manifest).length };
    await suite.client.pushManifest('man/docker', 'arm', manifest);
    const list = {
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.list.v2+json',
      manifests: [{ mediaType: mediaTypes.dockerManifest, digest, size, platform: { os: 'linux', architecture: 'arm64' } }],
    };
    await suite.client.pushManifest('man/docker', 'multi', list);
    const get = await suite.client.request('GET', '/v2/man/docker/manifests/multi');
    assert.equal(get.headers.get('content-type'), 'application/vnd.docker.distribution.manifest.list.v2+json');
  });

  it('accepts OCI artifacts with any artifactType and the empty config', async () => {
    const empty = await suite.client.pushBlob('man/artifact', '{}');
    const payload = await suite.client.pushBlob('man/artifact', 'sbom contents');
    const manifest = {
      schemaVersion: 2,
      mediaType: mediaTypes.ociManifest,
      artifactType: 'application/vnd.example.sbom.v1+json',
      config: { ...empty, mediaType: mediaTypes.ociEmpty },
      layers: [{ ...payload, mediaType: 'application/spdx+json' }],
    };
    await suite.client.pushManifest('man/artifact', 'sbom', manifest);
    const get = await suite.client.request('GET', '/v2/man/artifact/manifests/sbom');
    assert.equal(get.status, 200);
  });

  it('an index needs its child manifests in the repository', async () => {
    const amd = await suite.client.pushImage('man/index', 'amd64', { platform: { os: 'linux', architecture: 'amd64' } });
    const arm = await suite.client.pushImage('man/index', 'arm64', { platform: { os: 'linux', architecture: 'arm64' } });
    const index = {
      schemaVersion: 2,
      mediaType: mediaTypes.ociIndex,
      manifests: [
        { mediaType: mediaTypes.ociManifest, digest: amd.digest, size: amd.size, platform: { os: 'linux', architecture: 'amd64' } },
        { mediaType: mediaTypes.ociManifest, digest: arm.digest, size: arm.size, platform: { os: 'linux', architecture: 'arm64' } },
      ],
    };
    await suite.client.pushManifest('man/index', 'multi', index);
    const missing = { ...index, manifests: [...index.manifests, { mediaType: mediaTypes.ociManifest, digest: sha256('gone'), size: 4 }] };
    const res = await suite.client.request('PUT', '/v2/man/index/manifests/broken', {
      body: JSON.stringify(missing),
      headers: { 'Content-Type': mediaTypes.ociIndex },
    });
    assert.equal(res.status, 400);
    assert.equal(await suite.client.errorCode(res), 'MANIFEST_BLOB_UNKNOWN');
  });

  it('answers OCI-Subject for a manifest with a subject', async () => {
    const subject = await suite.client.pushImage('man/subject', 'base');
    const { response } = await suite.client.pushSignature('man/subject', subject);
    assert.equal(response.headers.get('oci-subject'), subject.digest);
  });
});

describe('manifest validation', () => {
  const put = (repo: string, ref: string, body: string, type: string = mediaTypes.ociManifest) =>
    suite.client.request('PUT', `/v2/${repo}/manifests/${ref}`, { body, headers: { 'Content-Type': type } });

  it('unparseable or malformed manifests are MANIFEST_INVALID', async () => {
    for (const body of ['not json', '[]', '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}',
      '{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:zz","size":1},"layers":[]}',
      '{"schemaVersion":1,"name":"x","tag":"y","fsLayers":[]}']) {
      const res = await put('val/bad', 'x', body);
      assert.equal(res.status, 400, body);
      assert.equal(await suite.client.errorCode(res), 'MANIFEST_INVALID', body);
    }
  });

  it('a mediaType that contradicts Content-Type is MANIFEST_INVALID', async () => {
    const config = await suite.client.pushBlob('val/type', '{}');
    const body = JSON.stringify({ schemaVersion: 2, mediaType: mediaTypes.ociManifest, config: { ...config, mediaType: mediaTypes.ociEmpty }, layers: [] });
    const res = await put('val/type', 'x', body, mediaTypes.dockerManifest);
    assert.equal(res.status, 400);
    assert.equal(await suite.client.errorCode(res), 'MANIFEST_INVALID');
  });

  it('a config or layer not in the repository is MANIFEST_BLOB_UNKNOWN', async () => {
    const config = await suite.client.pushBlob('val/blobs', '{}');
    const body = JSON.stringify({
      schemaVersion: 2,
      mediaType: mediaTypes.ociManifest,
      config: { ...config, mediaType: mediaTypes.ociEmpty },
      layers: [{ mediaType: mediaTypes.ociLayer, digest: sha256('missing layer'), size: 13 }],
    });
    const res = await put('val/blobs', 'x', body);
    assert.equal(res.status, 400);
    assert.equal(await suite.client.errorCode(res), 'MANIFEST_BLOB_UNKNOWN');
    // a blob of another repository does not count
    const other = await suite.client.pushBlob('val/elsewhere', 'layer elsewhere');
    const body2 = JSON.stringify({
      schemaVersion: 2,
      mediaType: mediaTypes.ociManifest,
      config: { ...config, mediaType: mediaTypes.ociEmpty },
      layers: [{ ...other, mediaType: mediaTypes.ociLayer }],
    });
    assert.equal((await put('val/blobs', 'y', body2)).status, 400);
    assert.equal((await suite.client.request('GET', '/v2/val/blobs/manifests/x')).status, 404);
  });

  it('foreign layers need not be present', async () => {
    const config = await suite.client.pushBlob('val/foreign', JSON.stringify({ os: 'windows', architecture: 'amd64' }));
    const body = JSON.stringify({
      schemaVersion: 2,
      mediaType: mediaTypes.dockerManifest,
      config: { ...config, mediaType: 'application/vnd.docker.container.image.v1+json' },
      layers: [{ mediaType: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip', digest: sha256('windows base'), size: 12, urls: ['https://example.invalid/layer'] }],
    });
    assert.equal((await put('val/foreign', 'win', body, mediaTypes.dockerManifest)).status, 201);
  });

  it('manifests over 4 MiB are refused with 413', async () => {
    const config = await suite.client.pushBlob('val/huge', '{}');
    const body = JSON.stringify({
      schemaVersion: 2,
      mediaType: mediaTypes.ociManifest,
      config: { ...config, mediaType: mediaTypes.ociEmpty },
      layers: [],
      annotations: { padding: 'x'.repeat(4 * 1024 * 1024) },
    });
    const res = await put('val/huge', 'big', body);
    assert.equal(res.status, 413);
    assert.equal(await suite.client.errorCode(res), 'SIZE_INVALID');
  });

  it('pushing to an invalid tag is TAG_INVALID; unknown manifests MANIFEST_UNKNOWN; unknown repositories NAME_UNKNOWN', async () => {
    await suite.client.pushImage('val/known', 'v1');
    const badTag = await suite.client.request('PUT', `/v2/val/known/manifests/${'t'.repeat(129)}`, { body: '{}', headers: { 'Content-Type': mediaTypes.ociManifest } });
    assert.equal(badTag.status, 400);
    assert.equal(await suite.client.errorCode(badTag), 'TAG_INVALID');
    const unknownTag = await suite.client.request('GET', '/v2/val/known/manifests/nope');
    assert.equal(unknownTag.status, 404);
    assert.equal(await suite.client.errorCode(unknownTag), 'MANIFEST_UNKNOWN');
    const unknownRepo = await suite.client.request('GET', '/v2/val/never/manifests/v1');
    assert.equal(unknownRepo.status, 404);
    assert.equal(await suite.client.errorCode(unknownRepo), 'NAME_UNKNOWN');
  });
});

describe('manifest and tag delete', () => {
  it('DELETE by tag removes only the tag (202)', async () => {
    const image = await suite.client.pushImage('del/man', 'keep');
    await suite.client.pushManifest('del/man', 'drop', image.manifest);
    const res = await suite.client.request('DELETE', '/v2/del/man/manifests/drop');
    assert.equal(res.status, 202);
    assert.equal((await suite.client.request('GET', '/v2/del/man/manifests/drop')).status, 404);
    assert.equal((await suite.client.request('GET', '/v2/del/man/manifests/keep')).status, 200);
    assert.equal((await suite.client.request('GET', `/v2/del/man/manifests/${image.digest}`)).status, 200);
  });

  it('DELETE by digest removes the manifest and its tags, not shared blobs', async () => {
    const image = await suite.client.pushImage('del/digest', 'v1', { layer: 'a layer shared with another repository' });
    await suite.client.pushImage('del/other', 'v1', { layer: 'a layer shared with another repository' });
    const res = await suite.client.request('DELETE', `/v2/del/digest/manifests/${image.digest}`);
    assert.equal(res.status, 202);
    assert.equal((await suite.client.request('GET', `/v2/del/digest/manifests/${image.digest}`)).status, 404);
    assert.equal((await suite.client.request('GET', '/v2/del/digest/manifests/v1')).status, 404);
    const tags = (await (await suite.client.request('GET', '/v2/del/digest/tags/list')).json()) as { tags: string[] };
    assert.deepEqual(tags.tags, []);
    const other = await suite.client.request('GET', '/v2/del/other/manifests/v1');
    assert.equal(other.status, 200);
    const layer = ((await other.json()) as { layers: Array<{ digest: string }> }).layers[0]!.digest;
    assert.equal((await suite.client.request('GET', `/v2/del/other/blobs/${layer}`)).status, 200);
    const again = await suite.client.request('DELETE', `/v2/del/digest/manifests/${image.digest}`);
    assert.equal(again.status, 404);
    assert.equal(await suite.client.errorCode(again), 'MANIFEST_UNKNOWN');
  });

  it('a tag moves to a new manifest on re-push', async () => {
    await suite.client.pushImage('del/move', 'latest');
    const second = await suite.client.pushImage('del/move', 'latest');
    const head = await suite.client.request('HEAD', '/v2/del/move/manifests/latest');
    assert.equal(head.headers.get('docker-content-digest'), second.digest);
  });
});
