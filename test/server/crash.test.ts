import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { adminCredentials, startBerth, tempDir, type BerthProcess } from '../helpers/berth-process.js';
import { OciClient, basicAuth, sha256 } from '../helpers/oci-client.js';
import { corruptBlobs, sqliteIntegrity } from '../helpers/integrity.js';
import { waitFor } from '../helpers/wait.js';

/** Manifests the writers must have pushed (201 seen) before the crash, so the crash hits a busy server. */
const manifestsBeforeCrash = 12;

/** Starts a PATCH and sends only `sent` bytes of `body`, leaving the request open. */
function startSlowPatch(berth: BerthProcess, location: string, body: Buffer, sent: number): void {
  const url = new URL(berth.url);
  const req = request({
    host: url.hostname,
    port: url.port,
    method: 'PATCH',
    path: location,
    headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(body.length), Authorization: basicAuth(adminCredentials) },
  });
  req.on('error', () => undefined);
  req.write(body.subarray(0, sent));
}

describe('crash safety (kill -9)', () => {
  it('an interrupted chunked upload survives a crash and resumes to a verified blob', async (t) => {
    const dataDir = tempDir('crash-upload');
    let berth = await startBerth({ dataDir, t });
    let client = new OciClient(berth.url);
    const blob = randomBytes(3 * 1024 * 1024);
    const chunk1 = blob.subarray(0, 1024 * 1024);
    const chunk2 = blob.subarray(1024 * 1024);

    const start = await client.request('POST', '/v2/crash/upload/blobs/uploads/');
    const location = start.headers.get('location')!;
    const first = await client.request('PATCH', location, {
      body: chunk1,
      headers: { 'Content-Range': `0-${chunk1.length - 1}`, 'Content-Length': String(chunk1.length) },
    });
    assert.equal(first.status, 202);

    // Uploads reach the file in ~1 MiB batches: send more than one batch of the 2 MiB chunk.
    startSlowPatch(berth, location, chunk2, 1600 * 1024);
    // Crash while the second chunk is being written: part of it is in the upload file.
    const uploadFile = join(dataDir, 'uploads', location.split('/').pop()!);
    await waitFor(() => statSync(uploadFile).size > chunk1.length, {
      what: 'part of the second chunk to reach the upload file',
      detail: () => `${uploadFile} has ${statSync(uploadFile).size} bytes`,
    });
    await berth.stop('SIGKILL');

    berth = await startBerth({ dataDir, t });
    client = new OciClient(berth.url);
    const status = await client.request('GET', location);
    assert.equal(status.status, 204);
    assert.equal(status.headers.get('range'), `0-${chunk1.length - 1}`, 'only the completed chunk counts');

    const resumed = await client.request('PATCH', location, {
      body: chunk2,
      headers: { 'Content-Range': `${chunk1.length}-${blob.length - 1}`, 'Content-Length': String(chunk2.length) },
    });
    assert.equal(resumed.status, 202);
    const done = await client.request('PUT', `${location}?digest=${sha256(blob)}`);
    assert.equal(done.status, 201);
    const pulled = await client.request('GET', `/v2/crash/upload/blobs/${sha256(blob)}`);
    assert.deepEqual(Buffer.from(await pulled.arrayBuffer()), blob);
    await berth.stop();
    assert.deepEqual(await corruptBlobs(dataDir), []);
  });

  it('a crash during manifest and blob writes leaves nothing corrupt or half-visible', async (t) => {
    const dataDir = tempDir('crash-manifests');
    let berth = await startBerth({ dataDir, env: { BERTH_LOG_LEVEL: 'warn' }, t });
    let client = new OciClient(berth.url);
    let stop = false;
    let pushed = 0;
    let writerError: unknown = null;
    const writers = Array.from({ length: 6 }, async (_, worker) => {
      for (let i = 0; !stop; i++) {
        try {
          await client.pushImage(`crash/w${worker}`, `t${i}`, { layer: randomBytes(64 * 1024).toString('base64') });
          pushed++;
        } catch (error) {
          writerError ??= error;
          return; // the server went away mid-request
        }
      }
    });
    // Crash once the writers are well under way (however long that takes on a loaded machine),
    // with requests still in flight.
    try {
      await waitFor(() => pushed >= manifestsBeforeCrash || writerError !== null, {
        what: `${manifestsBeforeCrash} manifests pushed before the crash`,
        timeoutMs: 120_000,
        detail: () => `${pushed} pushed so far`,
      });
      assert.equal(writerError, null, 'no push failed before the crash');
    } finally {
      await berth.stop('SIGKILL');
      stop = true;
      await Promise.all(writers);
    }

    assert.equal(sqliteIntegrity(dataDir), 'ok');
    assert.deepEqual(await corruptBlobs(dataDir), []);

    berth = await startBerth({ dataDir, t });
    client = new OciClient(berth.url);
    assert.deepEqual(readdirSync(join(dataDir, 'tmp')), [], 'interrupted temporary files are cleared at start');
    let manifestsChecked = 0;
    for (let worker = 0; worker < 6; worker++) {
      const res = await client.request('GET', `/v2/crash/w${worker}/tags/list`);
      if (res.status === 404) continue;
      const { tags } = (await res.json()) as { tags: string[] };
      for (const tag of tags) {
        const manifest = await client.request('GET', `/v2/crash/w${worker}/manifests/${tag}`);
        assert.equal(manifest.status, 200);
        const bytes = Buffer.from(await manifest.arrayBuffer());
        assert.equal(sha256(bytes), manifest.headers.get('docker-content-digest'));
        const parsed = JSON.parse(bytes.toString()) as { config: { digest: string }; layers: Array<{ digest: string }> };
        for (const digest of [parsed.config.digest, ...parsed.layers.map((l) => l.digest)]) {
          const blob = await client.request('GET', `/v2/crash/w${worker}/blobs/${digest}`);
          assert.equal(blob.status, 200, `blob ${digest} of a visible manifest must be complete`);
          assert.equal(sha256(Buffer.from(await blob.arrayBuffer())), digest);
        }
        manifestsChecked++;
      }
    }
    assert.ok(manifestsChecked >= manifestsBeforeCrash, `the ${manifestsBeforeCrash} manifests pushed before the crash are there (found ${manifestsChecked})`);
    await client.pushImage('crash/w0', 'after-restart');
    await berth.stop();
  });
});
