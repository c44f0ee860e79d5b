import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { adminCredentials, startBerth, type BerthProcess } from '../helpers/berth-process.js';
import { mediaTypes, OciClient, sha256 } from '../helpers/oci-client.js';
import { openRawRequest, readAtLeast, resetMidRequest } from '../helpers/raw-http.js';
import { waitFor } from '../helpers/wait.js';

const announced = 4 * 1024 * 1024;
/** How much of the body is sent before the reset, and how long the client lingers: many points of a request. */
const cutPoints = [0, 1, 100, 16 * 1024, 64 * 1024 + 7, 1024 * 1024];
const lingers = [0, 1, 10];

function* schedule(rounds: number): Generator<{ bytes: number; linger: number; round: number }> {
  for (let round = 0; round < rounds; round++) {
    yield { bytes: cutPoints[round % cutPoints.length]!, linger: lingers[round % lingers.length]!, round };
  }
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('clients that reset their connection mid-request', () => {
  let berth: BerthProcess;
  let client: OciClient;
  before(async () => {
    berth = await startBerth();
    client = new OciClient(berth.url);
  });
  after(async () => {
    await berth?.stop();
  });

  async function assertServerHealthy(): Promise<void> {
    assert.equal(berth.child.exitCode, null, `server exited:\n${berth.stderr()}`);
    assert.equal((await client.request('GET', '/v2/')).status, 200);
    assert.doesNotMatch(berth.stderr(), /Unhandled 'error'|uncaught/i);
  }

  /** An upload request announcing `announced` bytes, reset after `bytes` of them and `linger` ms. */
  function resetUpload(method: string, path: string, bytes: number, linger: number): Promise<void> {
    const headers = { 'Content-Type': 'application/octet-stream', 'Content-Length': String(announced) };
    return resetMidRequest(berth.url, { method, path, credentials: adminCredentials, headers }, bytes, pause(linger));
  }

  async function startSession(repository: string): Promise<string> {
    const res = await client.request('POST', `/v2/${repository}/blobs/uploads/`);
    assert.equal(res.status, 202);
    return res.headers.get('location')!;
  }

  /** The session survives: its recorded size is unchanged and it completes with the right digest. */
  async function assertSessionUsable(repository: string, location: string, round: number): Promise<void> {
    const status = await client.request('GET', location);
    assert.equal(status.status, 204);
    assert.equal(status.headers.get('range'), '0-0', 'an aborted chunk never counts');
    const data = Buffer.from(`chunk after the reset, round ${round}`);
    const patched = await client.request('PATCH', location, {
      body: data,
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `0-${data.length - 1}`, 'Content-Length': String(data.length) },
    });
    assert.equal(patched.status, 202, await patched.text());
    const put = await client.request('PUT', `${location}${location.includes('?') ? '&' : '?'}digest=${sha256(data)}`);
    assert.equal(put.status, 201, await put.text());
    const back = await client.request('GET', `/v2/${repository}/blobs/${sha256(data)}`);
    assert.deepEqual(Buffer.from(await back.arrayBuffer()), data);
  }

  it('a PATCH reset at any point leaves the server up and the session usable', async () => {
    for (const { bytes, linger, round } of schedule(18)) {
      const location = await startSession('abort/patch');
      await resetUpload('PATCH', location, bytes, linger);
      await assertSessionUsable('abort/patch', location, round);
    }
    await assertServerHealthy();
  });

  it('a PUT with a last chunk reset at any point leaves the session usable', async () => {
    for (const { bytes, linger, round } of schedule(12)) {
      const location = await startSession('abort/put');
      await resetUpload('PUT', `${location}?digest=${sha256('never arrives')}`, bytes, linger);
      await assertSessionUsable('abort/put', location, round);
    }
    await assertServerHealthy();
  });

  it('a monolithic POST reset at any point leaves nothing behind', async () => {
    for (const { bytes, linger } of schedule(12)) {
      await resetUpload('POST', `/v2/abort/monolithic/blobs/uploads/?digest=${sha256('never arrives either')}`, bytes, linger);
    }
    await assertServerHealthy();
    const uploads = join(berth.dataDir, 'uploads');
    await waitFor(() => readdirSync(uploads).length === 0, { what: 'the aborted monolithic uploads to be cleaned up' });
    assert.equal((await client.request('HEAD', `/v2/abort/monolithic/blobs/${sha256('never arrives either')}`)).status, 404);
  });

  it('a manifest PUT reset at any point stores nothing', async () => {
    const image = await client.pushImage('abort/manifest', 'kept');
    const body = JSON.stringify(image.manifest);
    for (const { linger, round } of schedule(12)) {
      await resetMidRequest(berth.url, {
        method: 'PUT',
        path: '/v2/abort/manifest/manifests/cut',
        credentials: adminCredentials,
        headers: { 'Content-Type': mediaTypes.ociManifest, 'Content-Length': String(body.length) },
      }, 0, pause(linger)).then(() => undefined);
      // a partial body, cut at a point that differs each round
      const socket = await openRawRequest(berth.url, {
        method: 'PUT',
        path: '/v2/abort/manifest/manifests/cut',
        credentials: adminCredentials,
        headers: { 'Content-Type': mediaTypes.ociManifest, 'Content-Length': String(body.length) },
      });
      socket.on('error', () => undefined);
      socket.write(body.slice(0, (round * 37) % body.length));
      await pause(linger);
      socket.resetAndDestroy();
    }
    await assertServerHealthy();
    assert.equal((await client.request('GET', '/v2/abort/manifest/manifests/cut')).status, 404);
    assert.equal((await client.request('GET', '/v2/abort/manifest/manifests/kept')).status, 200);
  });

  it('a blob GET reset while the blob streams leaves the server up', async () => {
    const big = Buffer.alloc(8 * 1024 * 1024, 0x62);
    const blob = await client.pushBlob('abort/pull', big);
    for (const { bytes, linger } of schedule(12)) {
      const socket = await openRawRequest(berth.url, { method: 'GET', path: `/v2/abort/pull/blobs/${blob.digest}`, credentials: adminCredentials });
      socket.on('error', () => undefined);
      if (bytes > 0) await readAtLeast(socket, bytes);
      await pause(linger);
      socket.resetAndDestroy();
    }
    await assertServerHealthy();
    const whole = await client.request('GET', `/v2/abort/pull/blobs/${blob.digest}`);
    assert.equal(sha256(Buffer.from(await whole.arrayBuffer())), blob.digest);
  });
});
