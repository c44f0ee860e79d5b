import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { adminCredentials, startBerth, tempDir, type BerthProcess } from '../helpers/berth-process.js';
import { api, tokenPassword, type CreatedToken } from '../helpers/management.js';
import { mediaTypes, OciClient, sha256 } from '../helpers/oci-client.js';
import { berthCliAsync } from '../helpers/task-helpers.js';
import { waitFor } from '../helpers/wait.js';
import { blobFiles, manifestStatus, pushUntagged, tagsOf } from './lifecycle-helpers.js';

interface DeletedManifest { digest: string; tags: string[]; deletedAt: string; expiresAt: string }
interface DeletedTag { tag: string; digest: string; manifestLive: boolean }
interface RestoreResult { digest: string; tags: string[]; skippedTags: string[]; manifestsRestored: string[] }
interface ErrorBody { errors: Array<{ code: string; message: string }> }

/** A soft delete "day" in this file (BERTH_SOFT_DELETE_DAY_SECONDS): 90 days are 15 minutes, 1 day 6 s. */
const daySeconds = 6;
const accept = [mediaTypes.ociManifest, mediaTypes.ociIndex].join(', ');
const hex = (digest: string) => digest.split(':')[1]!;

describe('soft delete: deleted content stays restorable, byte for byte, then expires', () => {
  let berth: BerthProcess;
  let client: OciClient;
  let configDir: string;
  const cli = async (args: string[]) => {
    const result = await berthCliAsync(configDir, [...args, '-o', 'json']);
    return { ...result, json: result.status === 0 && result.stdout.trim() ? (JSON.parse(result.stdout) as unknown) : undefined };
  };
  const deletedManifests = async (repository: string) => (await api<DeletedManifest[]>(berth.url, adminCredentials, 'GET', `/api/v1/deleted/manifests?repository=${encodeURIComponent(repository)}`)).body;
  const restore = (body: Record<string, unknown>) => api<RestoreResult & ErrorBody>(berth.url, adminCredentials, 'POST', '/api/v1/deleted/restore', body);
  const deleteByDigest = async (repository: string, digest: string) => {
    const res = await client.request('DELETE', `/v2/${repository}/manifests/${digest}`);
    assert.equal(res.status, 202);
  };
  const gcRun = async () => {
    const run = await api<{ blobsDeleted: number }>(berth.url, adminCredentials, 'POST', '/api/v1/gc/runs', { dryRun: false });
    assert.equal(run.status, 200);
    return run.body;
  };

  /** The manifest is served with exactly `bytes`, and every blob it names hashes to its digest. */
  async function assertByteForByte(repository: string, reference: string, digest: string, bytes: string): Promise<void> {
    const res = await client.request('GET', `/v2/${repository}/manifests/${reference}`, { headers: { Accept: accept } });
    assert.equal(res.status, 200, `${repository}:${reference}`);
    assert.equal(res.headers.get('docker-content-digest'), digest);
    const served = Buffer.from(await res.arrayBuffer()).toString('utf8');
    assert.equal(served, bytes);
    assert.equal(sha256(served), digest);
    const manifest = JSON.parse(served) as { config?: { digest: string }; layers?: Array<{ digest: string }>; manifests?: Array<{ digest: string }> };
    for (const child of manifest.manifests ?? []) assert.equal(await manifestStatus(client, repository, child.digest), 200, `child ${child.digest}`);
    for (const { digest: blob } of [...(manifest.config ? [manifest.config] : []), ...(manifest.layers ?? [])]) {
      const b = await client.request('GET', `/v2/${repository}/blobs/${blob}`);
      assert.equal(b.status, 200, `blob ${blob}`);
      assert.equal(sha256(new Uint8Array(await b.arrayBuffer())), blob);
    }
  }

  before(async () => {
    berth = await startBerth({ env: { BERTH_GC_GRACE_SECONDS: '0', BERTH_SOFT_DELETE_DAY_SECONDS: String(daySeconds) } });
    client = new OciClient(berth.url);
    configDir = tempDir('soft-delete-cli');
    const login = await berthCliAsync(configDir, ['login', berth.url, '-u', adminCredentials.username, '-p', adminCredentials.password]);
    assert.equal(login.status, 0, login.stderr);
  });
  after(async () => {
    await berth?.stop();
  });

  it('is off by default (7 days), and then a delete is final as before', async () => {
    const shown = await cli(['config', 'soft-delete', 'show']);
    assert.equal(shown.status, 0, shown.stderr);
    assert.deepEqual(shown.json, { status: 'disabled', days: 7 });
    const pushed = await client.pushImage('final', 'v1');
    await deleteByDigest('final', pushed.digest);
    assert.deepEqual(await deletedManifests('final'), []);
    const refused = await restore({ repository: 'final', tag: 'v1' });
    assert.equal(refused.status, 404);
    assert.equal(refused.body.errors[0]!.code, 'MANIFEST_UNKNOWN');
  });

  it('config soft-delete update takes 1..90 days, Owner only; bad input is a 400 in the registry format', async () => {
    const updated = await cli(['config', 'soft-delete', 'update', '--status', 'enabled', '--days', '90']);
    assert.equal(updated.status, 0, updated.stderr);
    assert.deepEqual(updated.json, { status: 'enabled', days: 90 });
    for (const body of [{ status: 'enabled', days: 0 }, { status: 'enabled', days: 91 }, { status: 'on', days: 7 }, { status: 'enabled', days: 1.5 }, { days: 7 }]) {
      const bad = await api<ErrorBody>(berth.url, adminCredentials, 'PUT', '/api/v1/soft-delete', body);
      assert.equal(bad.status, 400, JSON.stringify(body));
      assert.ok(bad.body.errors[0]!.code, JSON.stringify(bad.body));
    }
    const cliBad = await cli(['config', 'soft-delete', 'update', '--status', 'enabled', '--days', '91']);
    assert.notEqual(cliBad.status, 0);
    const token = (await api<CreatedToken>(berth.url, adminCredentials, 'POST', '/api/v1/tokens', { name: 'sd-pusher', rules: [{ repository: 'sd-own', actions: ['content/read', 'content/write'] }] })).body;
    const pusher = { username: 'sd-pusher', password: tokenPassword(token) };
    assert.equal((await api(berth.url, pusher, 'PUT', '/api/v1/soft-delete', { status: 'disabled', days: 7 })).status, 403);
    assert.equal((await api(berth.url, pusher, 'GET', '/api/v1/soft-delete')).status, 403);
    assert.deepEqual((await api(berth.url, adminCredentials, 'GET', '/api/v1/soft-delete')).body, { status: 'enabled', days: 90 });
  });

  it('a deleted tag comes back with manifest list-deleted-tags and restore', async () => {
    const pushed = await client.pushImage('sd-tag', 'v1');
    const res = await client.request('DELETE', `/v2/sd-tag/manifests/v1`);
    assert.equal(res.status, 202);
    assert.deepEqual(await tagsOf(client, 'sd-tag'), []);
    const listed = await cli(['manifest', 'list-deleted-tags', '-n', 'sd-tag:v1']);
    assert.equal(listed.status, 0, listed.stderr);
    const tags = listed.json as DeletedTag[];
    assert.equal(tags.length, 1);
    assert.deepEqual({ tag: tags[0]!.tag, digest: tags[0]!.digest, live: tags[0]!.manifestLive }, { tag: 'v1', digest: pushed.digest, live: true });
    const restored = await cli(['manifest', 'restore', '-n', 'sd-tag:v1']);
    assert.equal(restored.status, 0, restored.stderr);
    assert.deepEqual((restored.json as RestoreResult).tags, ['v1']);
    assert.deepEqual(await tagsOf(client, 'sd-tag'), ['v1']);
    await assertByteForByte('sd-tag', 'v1', pushed.digest, JSON.stringify(pushed.manifest));
    assert.deepEqual((await cli(['manifest', 'list-deleted-tags', '-n', 'sd-tag'])).json, []);
  });

  it('a manifest deleted by digest keeps its blobs through GC and comes back with its tags, journaled as a push', async () => {
    const pushed = await client.pushImage('sd-digest', 'a', { layer: `only in sd-digest ${Math.random()}` });
    await client.pushManifest('sd-digest', 'b', pushed.manifest);
    const layer = (pushed.manifest as { layers: Array<{ digest: string }> }).layers[0]!.digest;
    await deleteByDigest('sd-digest', pushed.digest);
    assert.equal(await manifestStatus(client, 'sd-digest', pushed.digest), 404);

    const listed = await cli(['manifest', 'list-deleted', '-n', 'sd-digest']);
    assert.equal(listed.status, 0, listed.stderr);
    const manifests = listed.json as DeletedManifest[];
    assert.deepEqual(manifests.map((m) => [m.digest, m.tags]), [[pushed.digest, ['a', 'b']]]);
    assert.equal(Date.parse(manifests[0]!.expiresAt) - Date.parse(manifests[0]!.deletedAt), 90 * daySeconds * 1000);

    // The collector runs with no grace: the archived manifest's layer stays.
    await gcRun();
    assert.ok(blobFiles(berth.dataDir).includes(hex(layer)), 'the layer of a soft-deleted manifest survives GC');

    const first = await cli(['manifest', 'restore', '-n', 'sd-digest:a']);
    assert.equal(first.status, 0, first.stderr);
    assert.deepEqual((first.json as RestoreResult).manifestsRestored, [pushed.digest]);
    await assertByteForByte('sd-digest', 'a', pushed.digest, JSON.stringify(pushed.manifest));
    // By digest without a tag: the tags it had that are free come back.
    const second = await cli(['manifest', 'restore', '-n', 'sd-digest', '-d', pushed.digest]);
    assert.equal(second.status, 0, second.stderr);
    assert.deepEqual((second.json as RestoreResult).tags, ['b']);
    assert.deepEqual((await tagsOf(client, 'sd-digest')).sort(), ['a', 'b']);
    assert.deepEqual(await deletedManifests('sd-digest'), []);

    const audited = await waitFor(
      async () => {
        const entries = (await api<Array<{ detail: { digest: string; tag: string | null } }>>(berth.url, adminCredentials, 'GET', '/api/v1/audit?kind=image.pushed&target=sd-digest')).body;
        const tags = entries.filter((e) => e.detail.digest === pushed.digest).map((e) => e.detail.tag);
        return tags.filter((t) => t === 'a').length >= 2 && tags.filter((t) => t === 'b').length >= 2 ? tags : null;
      },
      { what: 'the restores in the audit log as pushes' },
    );
    assert.ok(audited.length >= 4);
  });

  it('a restore refuses a tag that now points elsewhere (unless --force), and names what it cannot find', async () => {
    const old = await client.pushImage('sd-conflict', 'v1');
    await deleteByDigest('sd-conflict', old.digest);
    const current = await client.pushImage('sd-conflict', 'v1');
    const refused = await restore({ repository: 'sd-conflict', tag: 'v1' });
    assert.equal(refused.status, 409);
    assert.equal(refused.body.errors[0]!.code, 'CONFLICT');
    assert.match(refused.body.errors[0]!.message, /now points at .*--force/);
    const cliRefused = await cli(['manifest', 'restore', '-n', 'sd-conflict:v1']);
    assert.notEqual(cliRefused.status, 0);
    assert.match(cliRefused.stderr, /now points at/);
    // Without a tag, the taken tag is skipped, not moved.
    const skipped = await restore({ repository: 'sd-conflict', digest: old.digest });
    assert.equal(skipped.status, 200, JSON.stringify(skipped.body));
    assert.deepEqual(skipped.body.skippedTags, ['v1']);
    await deleteByDigest('sd-conflict', old.digest);
    const forced = await cli(['manifest', 'restore', '-n', 'sd-conflict:v1', '-d', old.digest, '--force']);
    assert.equal(forced.status, 0, forced.stderr);
    await assertByteForByte('sd-conflict', 'v1', old.digest, JSON.stringify(old.manifest));
    assert.equal(await manifestStatus(client, 'sd-conflict', current.digest), 200, 'the manifest the tag left stays, untagged');

    assert.equal((await restore({ repository: 'sd-conflict', tag: 'never' })).status, 404);
    assert.equal((await restore({ repository: 'sd-conflict', digest: `sha256:${'0'.repeat(64)}` })).status, 404);
    for (const body of [{ repository: 'sd-conflict' }, { repository: 'Bad Name', tag: 'v1' }, { repository: 'sd-conflict', digest: 'nope' }]) {
      const bad = await restore(body);
      assert.equal(bad.status, 400, JSON.stringify(body));
      assert.ok(Array.isArray(bad.body.errors), JSON.stringify(bad.body));
    }
  });

  it('a deleted repository is listed and its index comes back with its children', async () => {
    const amd = await pushUntagged(client, 'sd-repo', { os: 'linux', architecture: 'amd64' });
    const arm = await pushUntagged(client, 'sd-repo', { os: 'linux', architecture: 'arm64' });
    const index = { schemaVersion: 2, mediaType: mediaTypes.ociIndex, manifests: [amd, arm].map(({ manifest: _m, ...d }) => d) };
    const { digest: indexDigest } = await client.pushManifest('sd-repo', 'multi', index);
    const deleted = await berthCliAsync(configDir, ['repository', 'delete', '--repository', 'sd-repo', '--yes']);
    assert.equal(deleted.status, 0, deleted.stderr);
    assert.equal(await manifestStatus(client, 'sd-repo', 'multi'), 404);

    const repositories = await cli(['repository', 'list-deleted']);
    assert.equal(repositories.status, 0, repositories.stderr);
    const entry = (repositories.json as Array<{ name: string; manifests: number; tags: number }>).find((r) => r.name === 'sd-repo');
    assert.deepEqual(entry && { manifests: entry.manifests, tags: entry.tags }, { manifests: 3, tags: 1 });

    await gcRun();
    const restored = await cli(['manifest', 'restore', '-n', 'sd-repo:multi']);
    assert.equal(restored.status, 0, restored.stderr);
    assert.deepEqual((restored.json as RestoreResult).manifestsRestored.sort(), [indexDigest, amd.digest, arm.digest].sort());
    await assertByteForByte('sd-repo', 'multi', indexDigest, JSON.stringify(index));
    await assertByteForByte('sd-repo', amd.digest, amd.digest, JSON.stringify(amd.manifest));
    await assertByteForByte('sd-repo', arm.digest, arm.digest, JSON.stringify(arm.manifest));
    assert.equal((await cli(['repository', 'list-deleted'])).stdout.includes('sd-repo'), false);
  });

  it('what retention deletes is restorable too (soft delete works together with retention)', async () => {
    const lonely = await pushUntagged(client, 'sd-retention', { os: 'linux', architecture: 'amd64' });
    await client.pushImage('sd-retention', 'keep');
    assert.equal((await api(berth.url, adminCredentials, 'PUT', '/api/v1/retention', { status: 'enabled', days: 0 })).status, 200);
    try {
      await waitFor(async () => (await manifestStatus(client, 'sd-retention', lonely.digest)) === 404, { what: 'retention to delete the untagged manifest' });
    } finally {
      await api(berth.url, adminCredentials, 'PUT', '/api/v1/retention', { status: 'disabled', days: 7 });
    }
    assert.deepEqual((await deletedManifests('sd-retention')).map((m) => m.digest), [lonely.digest]);
    const restored = await cli(['manifest', 'restore', '-n', 'sd-retention:back', '-d', lonely.digest]);
    assert.equal(restored.status, 0, restored.stderr);
    await assertByteForByte('sd-retention', 'back', lonely.digest, JSON.stringify(lonely.manifest));
  });

  it('a push of a soft-deleted digest simply re-creates it (no refusal, unlike ACR)', async () => {
    const pushed = await client.pushImage('sd-repush', 'v1');
    await deleteByDigest('sd-repush', pushed.digest);
    assert.equal((await deletedManifests('sd-repush')).length, 1);
    const again = await client.pushManifest('sd-repush', 'v1', pushed.manifest);
    assert.equal(again.response.status, 201);
    assert.deepEqual(await deletedManifests('sd-repush'), []);
    assert.deepEqual((await api<DeletedTag[]>(berth.url, adminCredentials, 'GET', '/api/v1/deleted/tags?repository=sd-repush')).body, []);
  });

  it('listing and restoring need the push right on the repository', async () => {
    const pushed = await client.pushImage('sd-own', 'v1');
    await deleteByDigest('sd-own', pushed.digest);
    const make = async (name: string, actions: string[]) => {
      const token = (await api<CreatedToken>(berth.url, adminCredentials, 'POST', '/api/v1/tokens', { name, rules: [{ repository: 'sd-own', actions }] })).body;
      return { username: name, password: tokenPassword(token) };
    };
    const reader = await make('sd-reader', ['content/read']);
    const pusher = await make('sd-pusher2', ['content/read', 'content/write']);
    assert.equal((await api(berth.url, reader, 'GET', '/api/v1/deleted/manifests?repository=sd-own')).status, 403);
    assert.equal((await api(berth.url, reader, 'POST', '/api/v1/deleted/restore', { repository: 'sd-own', tag: 'v1' })).status, 403);
    assert.equal((await api(berth.url, null, 'GET', '/api/v1/deleted/repositories')).status, 401);
    const listed = await api<DeletedManifest[]>(berth.url, pusher, 'GET', '/api/v1/deleted/manifests?repository=sd-own');
    assert.equal(listed.status, 200, JSON.stringify(listed.body));
    assert.deepEqual(listed.body.map((m) => m.digest), [pushed.digest]);
    assert.equal((await api(berth.url, pusher, 'GET', '/api/v1/deleted/manifests?repository=sd-repo')).status, 403);
    const repositories = await api<Array<{ name: string }>>(berth.url, pusher, 'GET', '/api/v1/deleted/repositories');
    assert.deepEqual(repositories.body.map((r) => r.name), ['sd-own']);
    const restored = await api<RestoreResult>(berth.url, pusher, 'POST', '/api/v1/deleted/restore', { repository: 'sd-own', tag: 'v1' });
    assert.equal(restored.status, 200, JSON.stringify(restored.body));
    await assertByteForByte('sd-own', 'v1', pushed.digest, JSON.stringify(pushed.manifest));
  });

  it('after its days archived content is gone and the collector removes its blobs', async () => {
    const pushed = await client.pushImage('sd-expire', 'v1', { layer: `only in sd-expire ${Math.random()}` });
    const layer = (pushed.manifest as { layers: Array<{ digest: string }> }).layers[0]!.digest;
    await deleteByDigest('sd-expire', pushed.digest);
    await gcRun();
    assert.ok(blobFiles(berth.dataDir).includes(hex(layer)));
    // One (test) day: the current value counts, as ACR's purge uses it, so all archived content is now due.
    const updated = await cli(['config', 'soft-delete', 'update', '--status', 'enabled', '--days', '1']);
    assert.equal(updated.status, 0, updated.stderr);
    await waitFor(async () => (await deletedManifests('sd-expire')).length === 0, { what: 'the soft-delete-expiry work item to purge the archive', timeoutMs: 60_000 + daySeconds * 1000 });
    const refused = await restore({ repository: 'sd-expire', tag: 'v1' });
    assert.equal(refused.status, 404);
    await waitFor(
      async () => {
        await gcRun();
        return !blobFiles(berth.dataDir).includes(hex(layer));
      },
      { what: 'the collector to remove the expired manifest\'s layer', intervalMs: 500 },
    );
    assert.equal((await client.request('GET', `/v2/sd-expire/blobs/${layer}`)).status, 404);
    // Restored content is live content: untouched by the expiry.
    assert.equal(await manifestStatus(client, 'sd-digest', 'a'), 200);
  });
});
