import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { adminCredentials, startBerth, type BerthProcess } from '../helpers/berth-process.js';
import { api } from '../helpers/management.js';
import { mediaTypes, OciClient, sha256 } from '../helpers/oci-client.js';
import { waitFor, withDeadline } from '../helpers/wait.js';
import { blobFiles, manifestStatus } from './lifecycle-helpers.js';

interface GcRun {
  candidates: number;
  blobsDeleted: number;
  bytesFreed: number;
  uploadsDeleted: number;
  dryRun: boolean;
  durationMs: number;
}

const gcRun = async (berth: BerthProcess, dryRun = false) => (await api<GcRun>(berth.url, adminCredentials, 'POST', '/api/v1/gc/runs', { dryRun })).body;
const hex = (digest: string) => digest.split(':')[1]!;

/** Every blob of the tag's manifest is served and hashes to its name. */
async function assertPullable(client: OciClient, repository: string, tag: string): Promise<void> {
  const res = await client.request('GET', `/v2/${repository}/manifests/${tag}`, { headers: { Accept: mediaTypes.ociManifest } });
  assert.equal(res.status, 200, `${repository}:${tag}`);
  const manifest = (await res.json()) as { config: { digest: string }; layers: Array<{ digest: string }> };
  for (const { digest } of [manifest.config, ...manifest.layers]) {
    const blob = await client.request('GET', `/v2/${repository}/blobs/${digest}`);
    assert.equal(blob.status, 200, `${repository}:${tag} blob ${digest}`);
    assert.equal(sha256(new Uint8Array(await blob.arrayBuffer())), digest);
  }
}

/** A push as docker does it: HEAD each layer, upload only the missing ones, then the manifest. */
async function pushLikeDocker(client: OciClient, repository: string, tag: string, layers: string[], config: string): Promise<Response> {
  const descriptors = [];
  for (const content of [config, ...layers]) {
    const digest = sha256(content);
    const head = await client.request('HEAD', `/v2/${repository}/blobs/${digest}`);
    // Every answer is read to its end: an unread body holds its pooled connection.
    await head.arrayBuffer();
    if (head.status !== 200) await client.pushBlob(repository, content);
    descriptors.push({ digest, size: Buffer.byteLength(content) });
  }
  const [configDescriptor, ...layerDescriptors] = descriptors;
  const manifest = {
    schemaVersion: 2,
    mediaType: mediaTypes.ociManifest,
    config: { ...configDescriptor, mediaType: mediaTypes.ociConfig },
    layers: layerDescriptors.map((d) => ({ ...d, mediaType: mediaTypes.ociLayer })),
  };
  return client.request('PUT', `/v2/${repository}/manifests/${tag}`, { body: JSON.stringify(manifest), headers: { 'Content-Type': mediaTypes.ociManifest } });
}

describe('garbage collection, no grace period', () => {
  let berth: BerthProcess;
  let client: OciClient;
  before(async () => {
    berth = await startBerth({ env: { BERTH_GC_GRACE_SECONDS: '0', BERTH_GC_UPLOAD_MAX_AGE_SECONDS: '1' } });
    client = new OciClient(berth.url);
  });
  after(async () => {
    await berth?.stop();
  });

  it('removes the bytes of a deleted manifest from disk, keeps what another manifest shares, dry run first', async () => {
    const shared = 'shared layer content';
    const doomed = await client.pushImage('gc', 'doomed', { layer: 'unique layer of the doomed image' });
    await client.pushImage('gc', 'kept', { layer: shared, platform: { os: 'linux', architecture: 'arm64' } });
    await client.pushImage('gc-other', 'kept', { layer: shared });
    // Settle the queue first: the uploads' own reviews find their blobs referenced.
    await gcRun(berth);
    const before = blobFiles(berth.dataDir);
    const del = await client.request('DELETE', `/v2/gc/manifests/${doomed.digest}`);
    assert.equal(del.status, 202);

    const dry = await gcRun(berth, true);
    assert.equal(dry.dryRun, true);
    assert.equal(dry.blobsDeleted, 1, JSON.stringify(dry));
    assert.equal(dry.bytesFreed, Buffer.byteLength('unique layer of the doomed image'));
    assert.deepEqual(blobFiles(berth.dataDir).sort(), before.sort());

    const real = await gcRun(berth);
    assert.equal(real.blobsDeleted, dry.blobsDeleted);
    assert.equal(real.bytesFreed, dry.bytesFreed);
    const afterFiles = blobFiles(berth.dataDir);
    assert.equal(afterFiles.length, before.length - 1);
    assert.ok(!afterFiles.includes(hex(sha256('unique layer of the doomed image'))));
    assert.ok(afterFiles.includes(hex(sha256(shared))));
    await assertPullable(client, 'gc', 'kept');
    await assertPullable(client, 'gc-other', 'kept');
    // The config the doomed image shared with gc-other:kept (same platform) stays.
    assert.equal(await manifestStatus(client, 'gc', doomed.digest), 404);

    const runs = (await api<GcRun[]>(berth.url, adminCredentials, 'GET', '/api/v1/gc/runs?top=2')).body;
    assert.equal(runs[0]!.blobsDeleted, 1);
    assert.equal(runs[1]!.dryRun, true);
    const metrics = await (await fetch(`${berth.url}/metrics`)).text();
    assert.match(metrics, /berth_gc_blobs_deleted_total \d+/);
    assert.match(metrics, /berth_gc_bytes_freed_total \d+/);
  });

  it('removes an uploaded blob no manifest uses and an abandoned upload session', async () => {
    const blob = await client.pushBlob('gc-unlink', 'a blob no manifest will ever use');
    const start = await client.request('POST', '/v2/gc-unlink/blobs/uploads/');
    assert.equal(start.status, 202);
    const location = start.headers.get('location')!;
    const run = await waitFor(async () => {
      const r = await gcRun(berth);
      return r.uploadsDeleted >= 1 ? r : null;
    }, { what: 'the abandoned upload to be collected' });
    assert.ok(run.uploadsDeleted >= 1);
    assert.equal((await client.request('GET', location.replace(berth.url, ''))).status, 404);
    // With no grace period the upload's own review already took the unused blob.
    assert.equal((await client.request('HEAD', `/v2/gc-unlink/blobs/${blob.digest}`)).status, 404);
    assert.ok(!blobFiles(berth.dataDir).includes(hex(blob.digest)));
  });
});

describe('garbage collection racing concurrent pushes that share layers', () => {
  let berth: BerthProcess;
  let client: OciClient;
  // The grace period must cover a client's HEAD → manifest PUT (a blob it found may be collected
  // once the grace has passed since that touch): 25 lanes on a loaded 2-core machine took over 5 s.
  const graceSeconds = 20;
  before(async () => {
    berth = await startBerth({ env: { BERTH_GC_GRACE_SECONDS: String(graceSeconds) } });
    client = new OciClient(berth.url);
  });
  after(async () => {
    await berth?.stop();
  });

  it('never breaks a pull, and the garbage is gone from disk afterwards', async () => {
    const shared = Array.from({ length: 6 }, (_, i) => `shared layer ${i} ${'x'.repeat(2048)}`);
    const garbageLayers: string[] = [];
    // Garbage: images whose manifests are deleted; their shared layers are what the pushes reuse.
    for (let i = 0; i < 20; i++) {
      const unique = `garbage layer ${i} ${Math.random()}`;
      garbageLayers.push(unique);
      const res = await pushLikeDocker(client, 'race', `garbage-${i}`, [shared[i % shared.length]!, unique], `{"garbage":${i}}`);
      assert.equal(res.status, 201);
      const digest = res.headers.get('docker-content-digest')!;
      const deleted = await client.request('DELETE', `/v2/race/manifests/${digest}`);
      await deleted.arrayBuffer();
      assert.equal(deleted.status, 202);
    }
    // Wait until the shared layers' reviews are due: from here the collector may take them.
    await waitFor(async () => (await gcRun(berth, true)).blobsDeleted >= shared.length + garbageLayers.length, { what: 'the garbage to be due for collection', intervalMs: 500 });

    let pushing = true;
    const collections: GcRun[] = [];
    const collector = (async () => {
      while (pushing) collections.push(await gcRun(berth));
    })();
    const statuses: number[] = [];
    const total = 200;
    let next = 0;
    const lanes = Array.from({ length: 25 }, async () => {
      while (next < total) {
        const i = next++;
        const layers = [shared[i % shared.length]!, shared[(i + 1) % shared.length]!, `pushed layer ${i}`];
        const res = await pushLikeDocker(client, i % 2 === 0 ? 'race' : 'race-two', `p${i}`, layers, `{"push":${i}}`);
        statuses.push(res.status);
        const body = await res.text();
        if (res.status !== 201) assert.fail(`push ${i}: ${res.status} ${body}`);
      }
    });
    try {
      await withDeadline(Promise.all(lanes), { what: `${total} pushes racing the collector`, timeoutMs: 5 * 60_000 });
    } finally {
      pushing = false;
      await withDeadline(collector, { what: 'the last collection to end', timeoutMs: 60_000 });
    }
    assert.equal(statuses.filter((s) => s === 201).length, total);
    assert.ok(collections.length > 0);
    for (let i = 0; i < total; i++) await assertPullable(client, i % 2 === 0 ? 'race' : 'race-two', `p${i}`);

    // After the grace period every garbage layer is collected; the shared ones stay.
    await waitFor(
      async () => {
        await gcRun(berth);
        const files = new Set(blobFiles(berth.dataDir));
        return garbageLayers.every((l) => !files.has(hex(sha256(l)))) ? files : null;
      },
      { what: 'the garbage layers to be gone from disk', intervalMs: 1000 },
    );
    const files = new Set(blobFiles(berth.dataDir));
    for (const layer of shared) assert.ok(files.has(hex(sha256(layer))), 'a shared layer was removed');
    for (let i = 0; i < total; i++) await assertPullable(client, i % 2 === 0 ? 'race' : 'race-two', `p${i}`);
    const deleted = collections.reduce((n, c) => n + c.blobsDeleted, 0);
    process.stdout.write(`# ${collections.length} collections raced ${total} pushes, deleting ${deleted} blobs meanwhile\n`);
  });
});
