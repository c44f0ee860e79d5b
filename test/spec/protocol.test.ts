import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:net';
import { serverForSuite } from '../helpers/berth-process.js';
import { basicAuth } from '../helpers/oci-client.js';

const suite = serverForSuite();

/** Sends a request line verbatim (fetch would normalise `..` away). */
function rawRequest(path: string): Promise<string> {
  const url = new URL(suite.berth.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname, () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: ${basicAuth(suite.client.credentials!)}\r\nConnection: close\r\n\r\n`);
    });
    let data = '';
    socket.on('data', (d) => (data += d.toString()));
    socket.on('end', () => resolve(data));
    socket.on('error', reject);
  });
}

describe('protocol basics', () => {
  it('GET /v2/ answers 200 with the API version header', async () => {
    const res = await suite.client.request('GET', '/v2/');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('docker-distribution-api-version'), 'registry/2.0');
    assert.deepEqual(await res.json(), {});
  });

  it('errors use the spec envelope', async () => {
    const res = await suite.client.request('GET', '/v2/proto/nothing/manifests/latest');
    assert.equal(res.headers.get('content-type')?.startsWith('application/json'), true);
    const body = (await res.json()) as { errors: Array<{ code: string; message: string }> };
    assert.equal(body.errors.length, 1);
    assert.equal(body.errors[0]!.code, 'NAME_UNKNOWN');
    assert.equal(typeof body.errors[0]!.message, 'string');
  });

  it('repository names follow the spec grammar: namespaces ok, anything else NAME_INVALID', async () => {
    await suite.client.pushImage('a/b-c/d_e/f.g/h__i', 'v1');
    assert.equal((await suite.client.request('GET', '/v2/a/b-c/d_e/f.g/h__i/manifests/v1')).status, 200);
    for (const name of ['Upper/case', 'trailing-/x', 'a//b', '-lead', 'a/.hidden', 'x'.repeat(256)]) {
      const res = await suite.client.request('GET', `/v2/${name}/tags/list`);
      assert.equal(res.status, 400, name);
      assert.equal(await suite.client.errorCode(res), 'NAME_INVALID', name);
    }
  });

  it('no path can reach outside the data directory', async () => {
    for (const path of [
      '/v2/../../etc/passwd/blobs/sha256:abc',
      '/v2/a/blobs/uploads/..%2F..%2F..%2Fetc%2Fpasswd',
      '/v2/a/blobs/sha256:..%2F..%2Fmetadata.db',
      '/v2/%2e%2e/%2e%2e/tags/list',
    ]) {
      const response = await rawRequest(path);
      const status = Number(response.split(' ')[1]);
      assert.ok(status === 400 || status === 404, `${path} -> ${status}`);
      assert.ok(!response.includes('root:'), path);
    }
    assert.ok(existsSync(join(suite.berth.dataDir, 'metadata.db')));
    assert.ok(!readdirSync(suite.berth.dataDir).includes('etc'));
  });

  it('wrong methods are 405 UNSUPPORTED with Allow; unknown endpoints 404', async () => {
    const res = await suite.client.request('POST', '/v2/proto/x/manifests/latest');
    assert.equal(res.status, 405);
    assert.equal(await suite.client.errorCode(res), 'UNSUPPORTED');
    assert.equal(res.headers.get('allow'), 'GET, HEAD, PUT, DELETE');
    const unknown = await suite.client.request('GET', '/v2/proto/x/unknown/thing');
    assert.equal(unknown.status, 404);
  });
});
