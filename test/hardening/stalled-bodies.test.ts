import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { adminCredentials, startBerth } from '../helpers/berth-process.js';
import { OciClient, sha256 } from '../helpers/oci-client.js';
import { closedWithin, openRawRequest } from '../helpers/raw-http.js';
import { waitFor } from '../helpers/wait.js';

async function startSession(client: OciClient, repository: string): Promise<string> {
  const res = await client.request('POST', `/v2/${repository}/blobs/uploads/`);
  assert.equal(res.status, 202);
  return res.headers.get('location')!;
}

describe('bodies that stop arriving', () => {
  it('an upload body idle for longer than the limit is cut off, and the session lock is released', async (t) => {
    const berth = await startBerth({ env: { BERTH_BODY_IDLE_SECONDS: '1' } });
    t.after(() => berth.stop('SIGKILL'));
    const client = new OciClient(berth.url);
    for (const kind of ['PATCH', 'PUT', 'POST'] as const) {
      const location = await startSession(client, 'stall/blob');
      const path = kind === 'POST' ? `/v2/stall/blob/blobs/uploads/?digest=${sha256('x')}` : kind === 'PUT' ? `${location}?digest=${sha256('x')}` : location;
      const stalled = await openRawRequest(berth.url, {
        method: kind,
        path,
        credentials: adminCredentials,
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(64 * 1024 * 1024) },
      });
      stalled.on('error', () => undefined);
      stalled.write(Buffer.alloc(1000, 1));
      // Nothing more is sent: the server must close it (1 s idle, checked a few times a second).
      await closedWithin(stalled, 10_000);
      if (kind === 'POST') continue;
      // The session was held by the stalled request; a new chunk must go through now.
      const data = Buffer.from(`after the stall (${kind})`);
      const patched = await client.request('PATCH', location, {
        body: data,
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `0-${data.length - 1}` },
      });
      assert.equal(patched.status, 202, await patched.text());
      assert.equal((await client.request('PUT', `${location}?digest=${sha256(data)}`)).status, 201);
    }
    assert.match(berth.stdout(), /request body idle/);
  });

  it('a body that keeps arriving slowly is not cut off', async (t) => {
    const berth = await startBerth({ env: { BERTH_BODY_IDLE_SECONDS: '1' } });
    t.after(() => berth.stop('SIGKILL'));
    const client = new OciClient(berth.url);
    const location = await startSession(client, 'stall/slow');
    const parts = Array.from({ length: 8 }, (_, i) => Buffer.alloc(512, 65 + i));
    const whole = Buffer.concat(parts);
    const socket = await openRawRequest(berth.url, {
      method: 'PATCH',
      path: location,
      credentials: adminCredentials,
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(whole.length) },
    });
    const answer = new Promise<string>((resolve) => {
      let text = '';
      socket.on('data', (d: Buffer) => {
        text += d.toString();
        if (text.includes('\r\n\r\n')) resolve(text);
      });
    });
    // 8 parts 400 ms apart: 2.8 s in all, longer than the limit, but never idle for 1 s.
    for (const part of parts) {
      socket.write(part);
      await new Promise((resolve) => setTimeout(resolve, 400));
    }
    assert.match(await answer, /^HTTP\/1\.1 202/);
    socket.destroy();
    assert.equal((await client.request('PUT', `${location}?digest=${sha256(whole)}`)).status, 201);
  });

  it('SIGTERM ends within the drain time although a request never finishes', async (t) => {
    const berth = await startBerth({ env: { BERTH_BODY_IDLE_SECONDS: '0', BERTH_SHUTDOWN_DRAIN_SECONDS: '2' } });
    t.after(() => berth.stop('SIGKILL'));
    const client = new OciClient(berth.url);
    const location = await startSession(client, 'stall/shutdown');
    const stalled = await openRawRequest(berth.url, {
      method: 'PATCH',
      path: location,
      credentials: adminCredentials,
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(2 * 1024 * 1024) },
    });
    stalled.on('error', () => undefined);
    // A full write batch (1 MiB) and a little more; the store writes a batch once it is full.
    stalled.write(Buffer.alloc(1024 * 1024 + 10, 1));
    // In flight for sure once its first bytes are in the upload's file.
    const file = join(berth.dataDir, 'uploads', location.split('/').pop()!);
    await waitFor(() => existsSync(file) && statSync(file).size >= 1024 * 1024, { what: 'the stalled chunk to reach the upload file' });
    const started = Date.now();
    const code = await Promise.race([
      berth.stop('SIGTERM'),
      new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 20_000).unref()),
    ]);
    assert.notEqual(code, 'hung', 'the server did not stop within 20 s');
    assert.equal(code, 0);
    const took = Date.now() - started;
    assert.ok(took >= 1500, `stopped after ${took} ms: the in-flight request got its drain time`);
    assert.match(berth.stdout(), /shutdown drain time over/);
    stalled.destroy();
  });
});
