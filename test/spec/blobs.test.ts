import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { serverForSuite } from '../helpers/berth-process.js';
import { basicAuth, sha256, sha512 } from '../helpers/oci-client.js';

const suite = serverForSuite();

async function startUpload(repository: string): Promise<string> {
  const res = await suite.client.request('POST', `/v2/${repository}/blobs/uploads/`);
  assert.equal(res.status, 202);
  const location = res.headers.get('location');
  assert.ok(location?.startsWith(`/v2/${repository}/blobs/uploads/`));
  assert.ok(res.headers.get('docker-upload-uuid'));
  return location!;
}

describe('blob pull', () => {
  it('GET and HEAD return content, digest and length; unknown blobs are BLOB_UNKNOWN', async () => {
    const data = randomBytes(4096);
    const { digest } = await suite.client.pushBlob('pull/blobs', data);
    const head = await suite.client.request('HEAD', `/v2/pull/blobs/blobs/${digest}`);
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), '4096');
    assert.equal(head.headers.get('docker-content-digest'), digest);
    assert.equal(head.headers.get('docker-distribution-api-version'), 'registry/2.0');
    const get = await suite.client.request('GET', `/v2/pull/blobs/blobs/${digest}`);
    assert.equal(get.status, 200);
    assert.deepEqual(Buffer.from(await get.arrayBuffer()), data);

    const missing = await suite.client.request('GET', `/v2/pull/blobs/blobs/${sha256('nothing')}`);
    assert.equal(missing.status, 404);
    assert.equal(await suite.client.errorCode(missing), 'BLOB_UNKNOWN');
    const missingHead = await suite.client.request('HEAD', `/v2/pull/blobs/blobs/${sha256('nothing')}`);
    assert.equal(missingHead.status, 404);
  });

  it('answers Range requests with 206 and refuses unsatisfiable ranges with 416', async () => {
    const data = randomBytes(1000);
    const { digest } = await suite.client.pushBlob('pull/range', data);
    const part = await suite.client.request('GET', `/v2/pull/range/blobs/${digest}`, { headers: { Range: 'bytes=100-199' } });
    assert.equal(part.status, 206);
    assert.equal(part.headers.get('content-range'), 'bytes 100-199/1000');
    assert.equal(part.headers.get('content-length'), '100');
    assert.deepEqual(Buffer.from(await part.arrayBuffer()), data.subarray(100, 200));
    const open = await suite.client.request('GET', `/v2/pull/range/blobs/${digest}`, { headers: { Range: 'bytes=900-' } });
    assert.equal(open.status, 206);
    assert.deepEqual(Buffer.from(await open.arrayBuffer()), data.subarray(900));
    const suffix = await suite.client.request('GET', `/v2/pull/range/blobs/${digest}`, { headers: { Range: 'bytes=-10' } });
    assert.deepEqual(Buffer.from(await suffix.arrayBuffer()), data.subarray(990));
    const bad = await suite.client.request('GET', `/v2/pull/range/blobs/${digest}`, { headers: { Range: 'bytes=5000-6000' } });
    assert.equal(bad.status, 416);
    assert.equal(bad.headers.get('content-range'), 'bytes */1000');
  });

  it('a blob is visible only in repositories that link it', async () => {
    const { digest } = await suite.client.pushBlob('pull/owner', 'private bytes');
    const other = await suite.client.request('HEAD', `/v2/pull/other/blobs/${digest}`);
    assert.equal(other.status, 404);
  });

  it('rejects malformed and unsupported digests', async () => {
    const bad = await suite.client.request('GET', '/v2/pull/blobs/blobs/sha256:xyz');
    assert.equal(bad.status, 400);
    assert.equal(await suite.client.errorCode(bad), 'DIGEST_INVALID');
    const md5 = await suite.client.request('GET', '/v2/pull/blobs/blobs/md5:d41d8cd98f00b204e9800998ecf8427e');
    assert.equal(md5.status, 400);
    assert.equal(await suite.client.errorCode(md5), 'UNSUPPORTED');
  });
});

describe('monolithic push', () => {
  it('POST then PUT with the body', async () => {
    const data = randomBytes(10_000);
    const location = await startUpload('push/mono');
    const put = await suite.client.request('PUT', `${location}?digest=${sha256(data)}`, {
      body: data,
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    assert.equal(put.status, 201);
    assert.equal(put.headers.get('location'), `/v2/push/mono/blobs/${sha256(data)}`);
    assert.equal(put.headers.get('docker-content-digest'), sha256(data));
    const get = await suite.client.request('GET', `/v2/push/mono/blobs/${sha256(data)}`);
    assert.deepEqual(Buffer.from(await get.arrayBuffer()), data);
  });

  it('single POST with ?digest=', async () => {
    const data = randomBytes(2048);
    const res = await suite.client.request('POST', `/v2/push/single/blobs/uploads/?digest=${sha256(data)}`, {
      body: data,
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('location'), `/v2/push/single/blobs/${sha256(data)}`);
  });

  it('pushes the empty blob by POST then PUT, and by a single POST', async () => {
    const empty = Buffer.alloc(0);
    const location = await startUpload('push/empty');
    const put = await suite.client.request('PUT', `${location}?digest=${sha256(empty)}`);
    assert.equal(put.status, 201);
    const single = await suite.client.request('POST', `/v2/push/empty-single/blobs/uploads/?digest=${sha256(empty)}`, {
      body: empty,
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    assert.equal(single.status, 201);
    for (const repository of ['push/empty', 'push/empty-single']) {
      const get = await suite.client.request('GET', `/v2/${repository}/blobs/${sha256(empty)}`);
      assert.equal(get.status, 200);
      assert.equal(get.headers.get('content-length'), '0');
      assert.equal((await get.arrayBuffer()).byteLength, 0);
    }
  });

  it('verifies sha512 digests too', async () => {
    const data = randomBytes(3000);
    const res = await suite.client.request('POST', `/v2/push/sha512/blobs/uploads/?digest=${sha512(data)}`, { body: data });
    assert.equal(res.status, 201);
    const get = await suite.client.request('GET', `/v2/push/sha512/blobs/${sha512(data)}`);
    assert.deepEqual(Buffer.from(await get.arrayBuffer()), data);
    const wrong = await suite.client.request('POST', `/v2/push/sha512/blobs/uploads/?digest=${sha512('other')}`, { body: data });
    assert.equal(wrong.status, 400);
    assert.equal(await suite.client.errorCode(wrong), 'DIGEST_INVALID');
  });

  it('refuses content that does not match the digest and stores nothing', async () => {
    const location = await startUpload('push/mismatch');
    const claimed = sha256('something else');
    const put = await suite.client.request('PUT', `${location}?digest=${claimed}`, { body: 'actual content' });
    assert.equal(put.status, 400);
    assert.equal(await suite.client.errorCode(put), 'DIGEST_INVALID');
    const head = await suite.client.request('HEAD', `/v2/push/mismatch/blobs/${claimed}`);
    assert.equal(head.status, 404);
    const single = await suite.client.request('POST', `/v2/push/mismatch/blobs/uploads/?digest=${claimed}`, { body: 'actual content' });
    assert.equal(single.status, 400);
    assert.equal(await suite.client.errorCode(single), 'DIGEST_INVALID');
  });

  it('refuses a body shorter than its Content-Length claims', async () => {
    const { request } = await import('node:http');
    const url = new URL(suite.berth.url);
    const data = Buffer.from('0123456789');
    const status = await new Promise<number>((resolve, reject) => {
      const req = request({
        host: url.hostname,
        port: url.port,
        method: 'POST',
        path: `/v2/push/size/blobs/uploads/?digest=${sha256(data)}`,
        headers: { 'Content-Length': '10', 'Content-Type': 'application/octet-stream', Authorization: basicAuth(suite.client.credentials!) },
      });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on('error', () => resolve(-1));
      req.end(data.subarray(0, 5));
      // Deliberately fixed: the client gives up on the short body after a while (a server that
      // answered earlier has answered; one still waiting for the other 5 bytes sees an abort).
      const giveUpMs = 1000;
      setTimeout(() => req.destroy(), giveUpMs);
      void reject;
    });
    assert.notEqual(status, 201);
    const head = await suite.client.request('HEAD', `/v2/push/size/blobs/${sha256(data)}`);
    assert.equal(head.status, 404);
  });
});

describe('chunked push', () => {
  it('POST, PATCHes with Content-Range, status GET, PUT', async () => {
    const data = randomBytes(300_000);
    let location = await startUpload('push/chunked');
    const chunks = [data.subarray(0, 100_000), data.subarray(100_000, 250_000), data.subarray(250_000)];
    let offset = 0;
    for (const chunk of chunks.slice(0, 2)) {
      const res = await suite.client.request('PATCH', location, {
        body: chunk,
        headers: {
          'Content-Type': 'application/octet-stream',
          'Content-Range': `${offset}-${offset + chunk.length - 1}`,
          'Content-Length': String(chunk.length),
        },
      });
      assert.equal(res.status, 202);
      offset += chunk.length;
      assert.equal(res.headers.get('range'), `0-${offset - 1}`);
      location = res.headers.get('location')!;
    }
    const status = await suite.client.request('GET', location);
    assert.equal(status.status, 204);
    assert.equal(status.headers.get('range'), `0-${offset - 1}`);

    const outOfOrder = await suite.client.request('PATCH', location, {
      body: chunks[2],
      headers: { 'Content-Range': `0-${chunks[2]!.length - 1}` },
    });
    assert.equal(outOfOrder.status, 416);
    assert.equal(outOfOrder.headers.get('range'), `0-${offset - 1}`);

    const put = await suite.client.request('PUT', `${location}?digest=${sha256(data)}`, { body: chunks[2] });
    assert.equal(put.status, 201);
    const get = await suite.client.request('GET', `/v2/push/chunked/blobs/${sha256(data)}`);
    assert.deepEqual(Buffer.from(await get.arrayBuffer()), data);
  });

  it('an empty first PATCH leaves the upload empty; the chunks after it make the blob', async () => {
    const data = randomBytes(40_000);
    let location = await startUpload('push/empty-first');
    const empty = await suite.client.request('PATCH', location, { body: Buffer.alloc(0), headers: { 'Content-Type': 'application/octet-stream' } });
    assert.equal(empty.status, 202);
    assert.equal(empty.headers.get('range'), '0-0');
    location = empty.headers.get('location')!;
    const status = await suite.client.request('GET', location);
    assert.equal(status.status, 204);
    const chunk = await suite.client.request('PATCH', location, { body: data, headers: { 'Content-Range': `0-${data.length - 1}` } });
    assert.equal(chunk.status, 202);
    const put = await suite.client.request('PUT', `${chunk.headers.get('location')}?digest=${sha256(data)}`);
    assert.equal(put.status, 201);
    const get = await suite.client.request('GET', `/v2/push/empty-first/blobs/${sha256(data)}`);
    assert.deepEqual(Buffer.from(await get.arrayBuffer()), data);
  });

  it('streams a PATCH without Content-Range (as docker does) and verifies when rebuilt from disk', async () => {
    const data = randomBytes(50_000);
    const location = await startUpload('push/stream');
    const patch = await suite.client.request('PATCH', location, { body: data });
    assert.equal(patch.status, 202);
    const put = await suite.client.request('PUT', `${location}?digest=${sha256(data)}`);
    assert.equal(put.status, 201);
  });

  it('cancel (DELETE) ends the session; unknown sessions are BLOB_UPLOAD_UNKNOWN', async () => {
    const location = await startUpload('push/cancel');
    const del = await suite.client.request('DELETE', location);
    assert.equal(del.status, 204);
    const after = await suite.client.request('GET', location);
    assert.equal(after.status, 404);
    assert.equal(await suite.client.errorCode(after), 'BLOB_UPLOAD_UNKNOWN');
    const bogus = await suite.client.request('PATCH', '/v2/push/cancel/blobs/uploads/not-a-session', { body: 'x' });
    assert.equal(bogus.status, 404);
    assert.equal(await suite.client.errorCode(bogus), 'BLOB_UPLOAD_UNKNOWN');
  });

  it('an upload session belongs to its repository', async () => {
    const location = await startUpload('push/one');
    const id = location.split('/').pop();
    const res = await suite.client.request('GET', `/v2/push/two/blobs/uploads/${id}`);
    assert.equal(res.status, 404);
  });

  it('rejects an invalid Content-Range', async () => {
    const location = await startUpload('push/badrange');
    const res = await suite.client.request('PATCH', location, { body: 'abc', headers: { 'Content-Range': 'garbage' } });
    assert.equal(res.status, 416);
  });

  it('completing without a digest is DIGEST_INVALID and keeps the session', async () => {
    const location = await startUpload('push/nodigest');
    await suite.client.request('PATCH', location, { body: 'abc' });
    const res = await suite.client.request('PUT', location);
    assert.equal(res.status, 400);
    assert.equal(await suite.client.errorCode(res), 'DIGEST_INVALID');
    const status = await suite.client.request('GET', location);
    assert.equal(status.status, 204);
    assert.equal(status.headers.get('range'), '0-2');
  });
});

describe('cross-repository mount', () => {
  it('mounts from a repository holding the blob (201), else starts an upload (202)', async () => {
    const { digest } = await suite.client.pushBlob('mount/source', 'shared layer');
    const res = await suite.client.request('POST', `/v2/mount/target/blobs/uploads/?mount=${digest}&from=mount/source`);
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('location'), `/v2/mount/target/blobs/${digest}`);
    assert.equal(res.headers.get('docker-content-digest'), digest);
    const head = await suite.client.request('HEAD', `/v2/mount/target/blobs/${digest}`);
    assert.equal(head.status, 200);

    const unknown = await suite.client.request('POST', `/v2/mount/target/blobs/uploads/?mount=${sha256('absent')}&from=mount/source`);
    assert.equal(unknown.status, 202);
    assert.ok(unknown.headers.get('location')?.startsWith('/v2/mount/target/blobs/uploads/'));

    const wrongSource = await suite.client.request('POST', `/v2/mount/third/blobs/uploads/?mount=${digest}&from=mount/elsewhere`);
    assert.equal(wrongSource.status, 202);
  });

  it('mounts without `from` when the registry already holds the blob', async () => {
    const { digest } = await suite.client.pushBlob('mount/anywhere', 'registry-wide blob');
    const res = await suite.client.request('POST', `/v2/mount/fromless/blobs/uploads/?mount=${digest}`);
    assert.equal(res.status, 201);
  });
});

describe('blob delete', () => {
  it('deleting from one repository never breaks another that shares the blob', async () => {
    const { digest } = await suite.client.pushBlob('del/a', 'shared by two');
    await suite.client.request('POST', `/v2/del/b/blobs/uploads/?mount=${digest}&from=del/a`);
    const del = await suite.client.request('DELETE', `/v2/del/a/blobs/${digest}`);
    assert.equal(del.status, 202);
    assert.equal((await suite.client.request('HEAD', `/v2/del/a/blobs/${digest}`)).status, 404);
    const other = await suite.client.request('GET', `/v2/del/b/blobs/${digest}`);
    assert.equal(other.status, 200);
    assert.equal(await other.text(), 'shared by two');
    const again = await suite.client.request('DELETE', `/v2/del/a/blobs/${digest}`);
    assert.equal(again.status, 404);
    assert.equal(await suite.client.errorCode(again), 'BLOB_UNKNOWN');
  });
});
