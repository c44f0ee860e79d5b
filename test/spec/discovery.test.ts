import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { serverForSuite } from '../helpers/berth-process.js';
import { mediaTypes } from '../helpers/oci-client.js';

const suite = serverForSuite();

async function followPages(first: string): Promise<{ pages: string[][]; key: string }> {
  const pages: string[][] = [];
  let next: string | null = first;
  let key = '';
  while (next) {
    const res = await suite.client.request('GET', next);
    assert.equal(res.status, 200);
    const body = (await res.json()) as Record<string, unknown>;
    key = 'tags' in body ? 'tags' : 'repositories';
    pages.push(body[key] as string[]);
    const link = res.headers.get('link');
    next = link ? /^<([^>]+)>; rel="next"$/.exec(link)![1]! : null;
  }
  return { pages, key };
}

describe('tags list', () => {
  it('lists tags in lexical order and paginates with n, last and Link', async () => {
    const image = await suite.client.pushImage('disc/tags', 'seed');
    const tags = ['v10', 'v2', 'latest', 'alpha', 'v1.0', 'V3', '_under'];
    for (const tag of tags) await suite.client.pushManifest('disc/tags', tag, image.manifest);
    const expected = [...tags, 'seed'].sort();

    const all = await suite.client.request('GET', '/v2/disc/tags/tags/list');
    assert.equal(all.headers.get('link'), null);
    assert.deepEqual(await all.json(), { name: 'disc/tags', tags: expected });

    const { pages } = await followPages('/v2/disc/tags/tags/list?n=3');
    assert.deepEqual(pages.flat(), expected);
    assert.deepEqual(pages.map((p) => p.length), [3, 3, 2]);

    const afterLast = await suite.client.request('GET', `/v2/disc/tags/tags/list?n=2&last=${expected[5]}`);
    assert.deepEqual(((await afterLast.json()) as { tags: string[] }).tags, expected.slice(6, 8));

    const zero = await suite.client.request('GET', '/v2/disc/tags/tags/list?n=0');
    assert.deepEqual(((await zero.json()) as { tags: string[] }).tags, []);

    const bad = await suite.client.request('GET', '/v2/disc/tags/tags/list?n=-1');
    assert.equal(bad.status, 400);
    assert.equal(await suite.client.errorCode(bad), 'PAGINATION_NUMBER_INVALID');
  });

  it('an unknown repository is NAME_UNKNOWN', async () => {
    const res = await suite.client.request('GET', '/v2/disc/nothing/tags/list');
    assert.equal(res.status, 404);
    assert.equal(await suite.client.errorCode(res), 'NAME_UNKNOWN');
  });
});

describe('catalog', () => {
  it('lists repositories (namespaced) in lexical order with pagination', async () => {
    const repos = ['cat/zeta', 'cat/alpha', 'cat/team/app', 'cat/base/node', 'cat/m'];
    for (const repo of repos) await suite.client.pushImage(repo, 'v1');
    const { pages } = await followPages('/v2/_catalog?n=2');
    const listed = pages.flat();
    assert.deepEqual([...listed].sort(), listed, 'lexical order');
    assert.deepEqual(listed.filter((r) => r.startsWith('cat/')), [...repos].sort());
    assert.ok(pages.slice(0, -1).every((p) => p.length === 2));
  });
});

describe('referrers', () => {
  it('returns an OCI index of manifests whose subject is the digest, filterable by artifactType', async () => {
    const subject = await suite.client.pushImage('disc/ref', 'app');
    const subjectDescriptor = { mediaType: mediaTypes.ociManifest, digest: subject.digest, size: subject.size };
    const empty = await suite.client.pushBlob('disc/ref', '{}');
    const pushArtifact = async (artifactType: string, note: string) => {
      const layer = await suite.client.pushBlob('disc/ref', note);
      const manifest = {
        schemaVersion: 2,
        mediaType: mediaTypes.ociManifest,
        artifactType,
        config: { ...empty, mediaType: mediaTypes.ociEmpty },
        layers: [{ ...layer, mediaType: 'application/octet-stream' }],
        subject: subjectDescriptor,
        annotations: { note },
      };
      const body = JSON.stringify(manifest);
      const { digest } = await suite.client.pushManifest('disc/ref', (await import('../helpers/oci-client.js')).sha256(body), manifest);
      return { digest, size: Buffer.byteLength(body) };
    };
    const sig = await pushArtifact('application/vnd.example.signature', 'signed');
    const sbom = await pushArtifact('application/spdx+json', 'sbom');
    // an image (no artifactType) referring to the subject reports its config media type
    const imageReferrer = await suite.client.pushImage('disc/ref', 'attached', { subject: subjectDescriptor });

    const res = await suite.client.request('GET', `/v2/disc/ref/referrers/${subject.digest}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), mediaTypes.ociIndex);
    assert.equal(res.headers.get('oci-filters-applied'), null);
    const index = (await res.json()) as { schemaVersion: number; mediaType: string; manifests: Array<Record<string, unknown>> };
    assert.equal(index.schemaVersion, 2);
    assert.equal(index.mediaType, mediaTypes.ociIndex);
    const byDigest = new Map(index.manifests.map((m) => [m.digest, m]));
    assert.equal(index.manifests.length, 3);
    assert.deepEqual(byDigest.get(sig.digest), {
      mediaType: mediaTypes.ociManifest,
      digest: sig.digest,
      size: sig.size,
      artifactType: 'application/vnd.example.signature',
      annotations: { note: 'signed' },
    });
    assert.equal(byDigest.get(sbom.digest)?.artifactType, 'application/spdx+json');
    assert.equal(byDigest.get(imageReferrer.digest)?.artifactType, mediaTypes.ociConfig);

    const filtered = await suite.client.request('GET', `/v2/disc/ref/referrers/${subject.digest}?artifactType=application/spdx%2Bjson`);
    assert.equal(filtered.headers.get('oci-filters-applied'), 'artifactType');
    const filteredIndex = (await filtered.json()) as { manifests: Array<{ digest: string }> };
    assert.deepEqual(filteredIndex.manifests.map((m) => m.digest), [sbom.digest]);
  });

  it('a subject with no referrers (even an unknown one) gives an empty index; bad digests are DIGEST_INVALID', async () => {
    const res = await suite.client.request('GET', `/v2/disc/ref/referrers/sha256:${'0'.repeat(64)}`);
    assert.equal(res.status, 200);
    assert.deepEqual(((await res.json()) as { manifests: unknown[] }).manifests, []);
    const bad = await suite.client.request('GET', '/v2/disc/ref/referrers/sha256:nothex');
    assert.equal(bad.status, 400);
    assert.equal(await suite.client.errorCode(bad), 'DIGEST_INVALID');
  });
});
