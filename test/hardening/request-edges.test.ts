import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { serverForSuite } from '../helpers/berth-process.js';
import { mediaTypes, OciClient, sha256 } from '../helpers/oci-client.js';

async function errorOf(res: Response): Promise<{ code: string; message: string }> {
  const body = (await res.json()) as { errors: Array<{ code: string; message: string }> };
  return body.errors[0]!;
}

describe('stored content is never served as a page', () => {
  const suite = serverForSuite();

  async function imageManifest(client: OciClient, repository: string): Promise<Record<string, unknown>> {
    const config = await client.pushBlob(repository, JSON.stringify({ os: 'linux', architecture: 'amd64' }));
    const layer = await client.pushBlob(repository, `layer ${Math.random()}`);
    return { schemaVersion: 2, config: { ...config, mediaType: mediaTypes.ociConfig }, layers: [{ ...layer, mediaType: mediaTypes.ociLayer }] };
  }

  it('refuses manifests whose media type is not a manifest type, from the header or the body', async () => {
    const { client } = suite;
    const manifest = await imageManifest(client, 'html/attempt');
    const attempts: Array<{ contentType: string; body: Record<string, unknown> }> = [
      { contentType: 'text/html', body: { ...manifest, script: '<script>alert(1)</script>' } },
      { contentType: 'text/html; charset=utf-8', body: manifest },
      { contentType: 'image/svg+xml', body: manifest },
      { contentType: 'application/xhtml+xml', body: manifest },
      { contentType: 'application/vnd.example.thing+json', body: manifest },
      { contentType: 'application/json', body: { ...manifest, mediaType: 'text/html' } },
      { contentType: 'text/html', body: { ...manifest, mediaType: 'text/html' } },
      { contentType: 'application/octet-stream', body: { ...manifest, mediaType: 'application/javascript' } },
    ];
    for (const [i, attempt] of attempts.entries()) {
      const res = await client.request('PUT', `/v2/html/attempt/manifests/t${i}`, { body: JSON.stringify(attempt.body), headers: { 'Content-Type': attempt.contentType } });
      assert.equal(res.status, 400, `${attempt.contentType} / ${String(attempt.body.mediaType)}`);
      assert.equal((await errorOf(res)).code, 'MANIFEST_INVALID');
      assert.equal((await client.request('GET', `/v2/html/attempt/manifests/t${i}`)).status, 404);
    }
  });

  it('keeps accepting image types by header, and JSON artifact types the body declares', async () => {
    const { client } = suite;
    const manifest = await imageManifest(client, 'html/fine');
    const byHeader = await client.request('PUT', '/v2/html/fine/manifests/header', { body: JSON.stringify(manifest), headers: { 'Content-Type': mediaTypes.ociManifest } });
    assert.equal(byHeader.status, 201);
    const declared = { ...manifest, mediaType: 'application/vnd.example.custom.manifest.v1+json' };
    const byBody = await client.request('PUT', '/v2/html/fine/manifests/custom', { body: JSON.stringify(declared), headers: { 'Content-Type': 'application/vnd.example.custom.manifest.v1+json' } });
    assert.equal(byBody.status, 201, await byBody.text());
    const back = await client.request('GET', '/v2/html/fine/manifests/custom');
    assert.equal(back.headers.get('content-type'), 'application/vnd.example.custom.manifest.v1+json');
  });

  it('sends nosniff and a sandboxing Content-Security-Policy on every kind of answer', async () => {
    const { client, berth } = suite;
    const image = await client.pushImage('html/headers', 'v1');
    const layer = (image.manifest as { layers: Array<{ digest: string }> }).layers[0]!.digest;
    const answers = [
      await client.request('GET', '/v2/'),
      await client.request('GET', '/v2/html/headers/manifests/v1'),
      await client.request('GET', `/v2/html/headers/blobs/${layer}`),
      await client.request('GET', '/v2/html/headers/manifests/missing'),
      await new OciClient(berth.url, null).request('GET', '/v2/'),
      await client.request('GET', '/api/v1/users'),
      await client.request('GET', '/no/such/endpoint'),
      await fetch(`${berth.url}/healthz`),
    ];
    for (const res of answers) {
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff', res.url);
      assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'none'.*sandbox/, res.url);
    }
  });
});

describe('request details checked to the letter', () => {
  const suite = serverForSuite();

  async function session(client: OciClient): Promise<string> {
    const res = await client.request('POST', '/v2/edges/range/blobs/uploads/');
    return res.headers.get('location')!;
  }

  it('a Content-Range that disagrees with the body, or is absurd, is 416 and changes nothing', async () => {
    const { client } = suite;
    const body = Buffer.from('0123456789');
    const ranges = ['0-2', '0-10', '0-8', '1-10', '0-99999999999999999999', '5-2', 'bytes=0-', 'x-y', '-1-9'];
    for (const range of ranges) {
      const location = await session(client);
      const res = await client.request('PATCH', location, { body, headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': range } });
      assert.equal(res.status, 416, `Content-Range ${range}`);
      assert.equal((await errorOf(res)).code, 'BLOB_UPLOAD_INVALID');
      const status = await client.request('GET', location);
      assert.equal(status.headers.get('range'), '0-0', `nothing stored after Content-Range ${range}`);
    }
    const location = await session(client);
    const good = await client.request('PATCH', location, { body, headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': '0-9' } });
    assert.equal(good.status, 202);
    assert.equal(good.headers.get('range'), '0-9');
    assert.equal((await client.request('PUT', `${location}?digest=${sha256(body)}`)).status, 201);
  });

  it('looking up a malformed tag is MANIFEST_UNKNOWN; only a push says TAG_INVALID', async () => {
    const { client } = suite;
    await client.pushImage('edges/tags', 'real');
    const malformed = ['.INVALID_MANIFEST_NAME', '-leading-dash', 'a'.repeat(129), 'has%20space'];
    for (const tag of malformed) {
      for (const method of ['GET', 'HEAD', 'DELETE']) {
        const res = await client.request(method, `/v2/edges/tags/manifests/${tag}`);
        assert.equal(res.status, 404, `${method} ${tag}`);
        if (method !== 'HEAD') assert.equal((await errorOf(res)).code, 'MANIFEST_UNKNOWN', `${method} ${tag}`);
      }
      const put = await client.request('PUT', `/v2/edges/tags/manifests/${tag}`, { body: '{}', headers: { 'Content-Type': mediaTypes.ociManifest } });
      assert.equal(put.status, 400, `PUT ${tag}`);
      assert.equal((await errorOf(put)).code, 'TAG_INVALID');
    }
    assert.equal((await client.request('GET', '/v2/edges/tags/manifests/real')).status, 200);
  });

  it('the management API authenticates before it validates: anonymous bad input is 401, never schema details', async () => {
    const { berth } = suite;
    const spec = (await (await suite.client.request('GET', '/api/v1/openapi.json')).json()) as { paths: Record<string, Record<string, unknown>> };
    const writes = Object.entries(spec.paths).flatMap(([path, methods]) =>
      Object.keys(methods).filter((m) => ['post', 'put', 'patch'].includes(m)).map((m) => ({ method: m.toUpperCase(), path: path.replace(/\{[^}]+\}/g, 'x') })),
    );
    assert.ok(writes.length >= 10, `the API has write routes (${writes.length})`);
    for (const route of writes) {
      if (route.path.startsWith('/api/v1/agent/')) continue; // agent-key routes: their own 401
      const res = await fetch(berth.url + route.path, { method: route.method, headers: { 'Content-Type': 'application/json' }, body: '{"not":"valid","for":["any", "route"]}' });
      assert.equal(res.status, 401, `${route.method} ${route.path}`);
      const error = await errorOf(res);
      assert.equal(error.code, 'UNAUTHORIZED');
      assert.doesNotMatch(error.message, /must|property|schema/i);
    }
  });
});
