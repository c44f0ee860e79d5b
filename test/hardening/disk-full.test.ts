import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, readdirSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { adminCredentials, startBerth, tempDir, type BerthProcess } from '../helpers/berth-process.js';
import { basicAuth, OciClient, sha256 } from '../helpers/oci-client.js';
import { api } from '../helpers/management.js';
import { waitFor } from '../helpers/wait.js';

/** Writes into `file` until the filesystem refuses another byte. */
function fillDisk(file: string): void {
  const fd = openSync(file, 'w');
  try {
    for (const size of [1024 * 1024, 4096, 1]) {
      const chunk = Buffer.alloc(size, 0x7a);
      for (;;) {
        try {
          writeSync(fd, chunk);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw error;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
}

function bytesUnder(dir: string): number {
  return readdirSync(dir).reduce((sum, entry) => sum + statSync(join(dir, entry)).size, 0);
}

async function storageFull(res: Response, what: string): Promise<void> {
  assert.equal(res.status, 507, `${what}: ${res.status}`);
  const error = ((await res.json()) as { errors: Array<{ code: string; message: string }> }).errors[0]!;
  assert.equal(error.code, 'UNAVAILABLE');
  assert.match(error.message, /storage is full/);
}

describe('a full disk', () => {
  it('answers "storage is full", keeps reads and logins working, leaves nothing behind, and recovers', async (t) => {
    const mountPoint = tempDir('disk-full');
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=48m', 'tmpfs', mountPoint], { stdio: 'pipe' });
    } catch (error) {
      // Only a machine that refuses mounts (no root) gets here; CI runs as root.
      t.skip(`cannot mount a tmpfs here: ${(error as Error).message.split('\n')[0]}`);
      return;
    }
    let berth: BerthProcess | null = null;
    try {
      const dataDir = join(mountPoint, 'data');
      berth = await startBerth({ dataDir });
      const client = new OciClient(berth.url);
      const image = await client.pushImage('full/app', 'v1');
      const layer = (image.manifest as { layers: Array<{ digest: string }> }).layers[0]!.digest;
      const session = (await client.request('POST', '/v2/full/app/blobs/uploads/')).headers.get('location')!;

      const filler = join(mountPoint, 'filler');
      fillDisk(filler);

      const big = Buffer.alloc(2 * 1024 * 1024, 0x41);
      await storageFull(await client.request('POST', `/v2/full/app/blobs/uploads/?digest=${sha256(big)}`, { body: big, headers: { 'Content-Type': 'application/octet-stream' } }), 'monolithic push');
      await storageFull(await client.request('PATCH', session, { body: big, headers: { 'Content-Type': 'application/octet-stream' } }), 'chunk');
      const manifestPush = await client.request('PUT', '/v2/full/app/manifests/v2', { body: JSON.stringify(image.manifest), headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' } });
      if (manifestPush.status !== 201) await storageFull(manifestPush, 'manifest push');

      // Reads and logins write nothing, so they keep working.
      assert.equal((await client.request('GET', '/v2/full/app/manifests/v1')).status, 200);
      const pulled = await client.request('GET', `/v2/full/app/blobs/${layer}`);
      assert.equal(sha256(Buffer.from(await pulled.arrayBuffer())), layer);
      const tokenResponse = await fetch(`${berth.url}/oauth2/token?scope=repository:full/app:pull`, { headers: { Authorization: basicAuth(adminCredentials) } });
      assert.equal(tokenResponse.status, 200, 'the token endpoint works while the disk is full');
      const { token } = (await tokenResponse.json()) as { token: string };
      assert.equal((await fetch(`${berth.url}/v2/full/app/manifests/v1`, { headers: { Authorization: `Bearer ${token}` } })).status, 200);

      // Nothing half-stored: the failed uploads hold no bytes.
      await waitFor(() => bytesUnder(join(dataDir, 'uploads')) === 0 && readdirSync(join(dataDir, 'tmp')).length === 0, { what: 'failed uploads to give their space back' });
      assert.equal((await client.request('HEAD', `/v2/full/app/blobs/${sha256(big)}`)).status, 404);

      rmSync(filler);
      const pushed = await client.request('POST', `/v2/full/app/blobs/uploads/?digest=${sha256(big)}`, { body: big, headers: { 'Content-Type': 'application/octet-stream' } });
      assert.equal(pushed.status, 201, 'pushes work again once space is back');
      assert.equal((await client.request('PATCH', session, { body: big, headers: { 'Content-Type': 'application/octet-stream' } })).status, 202, 'the session survived');
      assert.equal((await client.request('PUT', `${session}?digest=${sha256(big)}`)).status, 201);
      await client.pushImage('full/app', 'v3');
      // The login made while the disk was full reaches the audit log once it can be written.
      await waitFor(async () => {
        const audit = await api<Array<{ kind: string; detail: { method?: string } | null }>>(berth!.url, adminCredentials, 'GET', '/api/v1/audit?top=200');
        return audit.body.some((e) => e.kind === 'login.succeeded' && e.detail?.method === 'token');
      }, { what: 'the login made during the outage in the audit log' });
      assert.equal(berth.child.exitCode, null);
    } finally {
      await berth?.stop();
      execFileSync('umount', ['-l', mountPoint], { stdio: 'pipe' });
      rmSync(mountPoint, { recursive: true, force: true });
    }
  });
});
