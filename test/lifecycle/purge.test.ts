import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { adminCredentials, serverForSuite, tempDir } from '../helpers/berth-process.js';
import { api, tokenPassword, type CreatedToken } from '../helpers/management.js';
import { mediaTypes } from '../helpers/oci-client.js';
import { berthCliAsync } from '../helpers/task-helpers.js';
import { waitFor } from '../helpers/wait.js';
import { manifestStatus, purge, pushUntagged, tagsOf } from './lifecycle-helpers.js';

const suite = serverForSuite();

describe('purge: the ACR defects, done right', () => {
  it('keeps the multi-arch children of a tagged index with --untagged (acr-cli#131, #342)', async () => {
    const { client, berth } = suite;
    const amd = await pushUntagged(client, 'multi', { os: 'linux', architecture: 'amd64' });
    const arm = await pushUntagged(client, 'multi', { os: 'linux', architecture: 'arm64' });
    const index = { schemaVersion: 2, mediaType: mediaTypes.ociIndex, manifests: [amd, arm].map(({ manifest: _m, ...d }) => d) };
    await client.pushManifest('multi', 'v1', index);
    const lonely = await pushUntagged(client, 'multi', { os: 'linux', architecture: 'amd64' });

    const result = await purge(berth, { filters: ['multi:^nothing$'], ago: '0d', untagged: true });
    assert.equal(result.status, 200, JSON.stringify(result.body));
    assert.deepEqual(result.body.repositories, [{ repository: 'multi', tags: [], manifests: [lonely.digest] }]);
    assert.equal(await manifestStatus(client, 'multi', amd.digest), 200);
    assert.equal(await manifestStatus(client, 'multi', arm.digest), 200);
    assert.equal(await manifestStatus(client, 'multi', 'v1'), 200);
    assert.equal(await manifestStatus(client, 'multi', lonely.digest), 404);
  });

  it('keeps the referrers of a kept image and deletes those of a deleted one (acr-cli#133)', async () => {
    const { client, berth } = suite;
    const kept = await client.pushImage('signed', 'v1');
    const keptSignature = await client.pushSignature('signed', kept);
    const gone = await client.pushImage('signed', 'v2');
    const goneSignature = await client.pushSignature('signed', gone);

    const result = await purge(berth, { filters: ['signed:^v2$'], ago: '0d', untagged: true });
    assert.equal(result.status, 200, JSON.stringify(result.body));
    assert.deepEqual(result.body.repositories, [{ repository: 'signed', tags: ['v2'], manifests: [gone.digest, goneSignature.digest] }]);
    assert.equal(await manifestStatus(client, 'signed', keptSignature.digest), 200);
    assert.equal(await manifestStatus(client, 'signed', 'v1'), 200);
    assert.equal(await manifestStatus(client, 'signed', goneSignature.digest), 404);
    const referrers = (await (await client.request('GET', `/v2/signed/referrers/${kept.digest}`)).json()) as { manifests: Array<{ digest: string }> };
    assert.deepEqual(referrers.manifests.map((m) => m.digest), [keptSignature.digest]);
    // Deleted through the manifest service: journaled as manifest.deleted, which webhooks and the audit log read.
    const audited = await waitFor(
      async () => {
        const entries = (await api<Array<{ detail: { digest: string } }>>(berth.url, adminCredentials, 'GET', '/api/v1/audit?kind=image.deleted&target=signed')).body;
        return entries.length >= 2 ? entries : null;
      },
      { what: 'the purge deletions in the audit log' },
    );
    assert.deepEqual(audited.map((e) => e.detail.digest).sort(), [gone.digest, goneSignature.digest].sort());
  });

  it('deletes nothing with an absurdly large --ago (acr-cli#83, #560)', async () => {
    const { client, berth } = suite;
    await client.pushImage('ancient', 'a');
    await pushUntagged(client, 'ancient', { os: 'linux', architecture: 'amd64' });
    for (const ago of ['999999d', '99999999999999999999999d', '9999999999999999999h', '1000000000000d1000000000000h']) {
      const result = await purge(berth, { filters: ['ancient:.*'], ago, untagged: true });
      assert.equal(result.status, 200, JSON.stringify(result.body));
      assert.equal(result.body.deletedTags, 0, ago);
      assert.equal(result.body.deletedManifests, 0, ago);
    }
    assert.deepEqual(await tagsOf(client, 'ancient'), ['a']);
    const bad = await purge(berth, { filters: ['ancient:.*'], ago: '1y' });
    assert.equal(bad.status, 400);
  });

  it('--keep with --untagged keeps the newest tags and their manifests (acr-cli#670)', async () => {
    const { client, berth } = suite;
    const pushed = [];
    for (const tag of ['t1', 't2', 't3', 't4', 't5']) pushed.push({ tag, ...(await client.pushImage('keeper', tag)) });
    await client.pushImage('keeper', 'release');
    const result = await purge(berth, { filters: ['keeper:^t'], ago: '0d', keep: 2, untagged: true });
    assert.equal(result.status, 200, JSON.stringify(result.body));
    assert.deepEqual((await tagsOf(client, 'keeper')).sort(), ['release', 't4', 't5']);
    assert.deepEqual(result.body.repositories[0]!.tags.sort(), ['t1', 't2', 't3']);
    assert.deepEqual(result.body.repositories[0]!.manifests.sort(), pushed.slice(0, 3).map((p) => p.digest).sort());
    for (const p of pushed.slice(3)) assert.equal(await manifestStatus(client, 'keeper', p.digest), 200);
  });

  it('filters take lookarounds, repeat, and the repository part is anchored', async () => {
    const { client, berth } = suite;
    for (const tag of ['keep-1', 'dev-1', 'dev-2']) await client.pushImage('look', tag);
    await client.pushImage('looking', 'dev-1');
    const result = await purge(berth, { filters: ['look:^(?!keep).*', 'look:^nothing$'], ago: '0d' });
    assert.equal(result.status, 200, JSON.stringify(result.body));
    assert.deepEqual(await tagsOf(client, 'look'), ['keep-1']);
    assert.deepEqual(await tagsOf(client, 'looking'), ['dev-1']);
  });

  it('--dry-run deletes nothing and reports exactly what the real run then deletes, with bytes', async () => {
    const { client, berth } = suite;
    const shared = 'a layer both images share';
    await client.pushImage('dry', 'old', { layer: shared });
    await client.pushImage('dry', 'kept', { layer: shared, platform: { os: 'linux', architecture: 'arm64' } });
    await client.pushImage('dry', 'old2');
    await pushUntagged(client, 'dry', { os: 'linux', architecture: 'amd64' });
    const request = { filters: ['dry:^old'], ago: '0d', untagged: true };
    const preview = await purge(berth, { ...request, dryRun: true });
    assert.equal(preview.status, 200);
    assert.equal(preview.body.dryRun, true);
    assert.deepEqual((await tagsOf(client, 'dry')).sort(), ['kept', 'old', 'old2']);
    assert.ok(preview.body.bytesFreed > 0);
    const real = await purge(berth, request);
    assert.deepEqual({ ...real.body, dryRun: true }, preview.body);
    assert.equal(real.body.deletedTags, 2);
    assert.equal(real.body.deletedManifests, 3);
    assert.deepEqual(await tagsOf(client, 'dry'), ['kept']);
  });

  it('needs the delete right on every repository it selects, and refuses before deleting anything', async () => {
    const { client, berth } = suite;
    await client.pushImage('guarded', 'x');
    await client.pushImage('open-to-delete', 'x');
    const token = (await api<CreatedToken>(berth.url, adminCredentials, 'POST', '/api/v1/tokens', { name: 'deleter', rules: [{ repository: 'open-to-delete', actions: ['content/delete', 'content/read'] }] })).body;
    const credentials = { username: 'deleter', password: tokenPassword(token) };
    const denied = await purge(berth, { filters: ['(guarded|open-to-delete):.*'], ago: '0d' }, credentials);
    assert.equal(denied.status, 403);
    assert.deepEqual(await tagsOf(client, 'open-to-delete'), ['x']);
    const allowed = await purge(berth, { filters: ['open-to-delete:.*'], ago: '0d' }, credentials);
    assert.equal(allowed.status, 200);
    assert.equal(allowed.body.deletedTags, 1);
  });

  it('the CLI prints ACR\'s report and counts', async () => {
    const { client, berth } = suite;
    await client.pushImage('clirepo', 'one');
    await client.pushImage('clirepo', 'two');
    const configDir = tempDir('purge-cli');
    const login = await berthCliAsync(configDir, ['login', berth.url, '-u', adminCredentials.username, '-p', adminCredentials.password]);
    assert.equal(login.status, 0, login.stderr);
    const dry = await berthCliAsync(configDir, ['purge', '--filter', 'clirepo:.*', '--ago', '0d', '--untagged', '--dry-run']);
    assert.equal(dry.status, 0, dry.stderr);
    assert.match(dry.stdout, new RegExp(`Would delete: ${berth.host}/clirepo:one`));
    assert.match(dry.stdout, /Number of deleted tags: 2\nNumber of deleted manifests: 2\n/);
    const real = await berthCliAsync(configDir, ['purge', '--filter', 'clirepo:.*', '--ago', '0d', '--untagged']);
    assert.equal(real.status, 0, real.stderr);
    assert.match(real.stdout, /Deleting tags for repository: clirepo/);
    assert.match(real.stdout, /Number of deleted tags: 2\nNumber of deleted manifests: 2\n/);
    const bad = await berthCliAsync(configDir, ['purge', '--filter', 'clirepo:.*']);
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /--ago is required/);
  });
});
