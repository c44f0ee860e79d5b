import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isRepositoryName, parseDigest, parseManifestReference } from '../../src/registry/reference.js';
import { parseManifest } from '../../src/registry/manifest.js';
import { RegistryError } from '../../src/registry/errors.js';
import { parseListen, resolveSettings } from '../../src/config/settings.js';

describe('names, tags and digests', () => {
  it('repository names follow the distribution grammar', () => {
    for (const ok of ['a', 'library/ubuntu', 'a-b/c_d/e.f/g__h', 'x--y', 'a1/b2']) assert.ok(isRepositoryName(ok), ok);
    for (const bad of ['', 'A', 'a/', '/a', 'a..b', 'a___b', 'a/-b', '../a', 'a b']) assert.ok(!isRepositoryName(bad), bad);
  });

  it('references are tags or verifiable digests', () => {
    assert.deepEqual(parseManifestReference('v1.0'), { kind: 'tag', tag: 'v1.0' });
    assert.throws(() => parseManifestReference('.bad'), (e: RegistryError) => e.code === 'TAG_INVALID');
    assert.throws(() => parseDigest('sha256:ABC'), (e: RegistryError) => e.code === 'DIGEST_INVALID');
    assert.throws(() => parseDigest('sha384:abc'), (e: RegistryError) => e.code === 'UNSUPPORTED');
    assert.equal(parseDigest(`sha512:${'a'.repeat(128)}`).algorithm, 'sha512');
  });
});

describe('manifest parsing', () => {
  const config = { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${'1'.repeat(64)}`, size: 2 };
  it('lists config and layers as blob children, skipping foreign layers', () => {
    const parsed = parseManifest(
      Buffer.from(JSON.stringify({
        schemaVersion: 2,
        config,
        layers: [
          { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${'2'.repeat(64)}`, size: 1 },
          { mediaType: 'application/vnd.oci.image.layer.nondistributable.v1.tar', digest: `sha256:${'3'.repeat(64)}`, size: 1 },
        ],
      })),
      'application/vnd.oci.image.manifest.v1+json',
    );
    assert.deepEqual(parsed.children.map((c) => c.digest), [config.digest, `sha256:${'2'.repeat(64)}`]);
    assert.equal(parsed.artifactType, config.mediaType);
  });

  it('takes the media type from Content-Type when the body has none', () => {
    const parsed = parseManifest(Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [] })), 'application/vnd.oci.image.index.v1+json');
    assert.equal(parsed.mediaType, 'application/vnd.oci.image.index.v1+json');
  });
});

describe('settings', () => {
  it('parses listen addresses and rejects nonsense', () => {
    assert.deepEqual(parseListen('127.0.0.1:5000'), { host: '127.0.0.1', port: 5000 });
    assert.deepEqual(parseListen('[::1]:80'), { host: '::1', port: 80 });
    assert.deepEqual(parseListen(':8080'), { host: '0.0.0.0', port: 8080 });
    assert.throws(() => parseListen('localhost'));
    assert.throws(() => parseListen('a:99999'));
  });

  it('flags beat environment beats defaults; TLS needs both halves', () => {
    assert.equal(resolveSettings({}, { BERTH_LISTEN: '127.0.0.1:7000' }).port, 7000);
    assert.equal(resolveSettings({ listen: '127.0.0.1:7001' }, { BERTH_LISTEN: '127.0.0.1:7000' }).port, 7001);
    assert.equal(resolveSettings({}, {}).port, 5000);
    assert.throws(() => resolveSettings({ tlsCert: 'a.pem' }, {}), /both/);
  });
});
