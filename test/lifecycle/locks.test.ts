import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { adminCredentials, startBerth, tempDir, type BerthProcess } from '../helpers/berth-process.js';
import { run } from '../helpers/commands.js';
import { api } from '../helpers/management.js';
import { mediaTypes, OciClient, sha256 } from '../helpers/oci-client.js';
import { spawnTracked, stopProcess } from '../helpers/processes.js';
import { berthCliAsync } from '../helpers/task-helpers.js';
import { waitFor } from '../helpers/wait.js';
import { blobFiles, manifestStatus, purge, pushUntagged, tagsOf } from './lifecycle-helpers.js';

type ErrorBody = { errors?: Array<{ code: string; message: string }> };
type Attributes = Partial<Record<'writeEnabled' | 'deleteEnabled' | 'readEnabled' | 'listEnabled', boolean>>;

let berth: BerthProcess;
let client: OciClient;
let distribution: ChildProcess | undefined;
let distributionHost = '';
const configDir = tempDir('locks-cli');
const accept = { Accept: [mediaTypes.ociManifest, mediaTypes.ociIndex, mediaTypes.dockerManifest].join(', ') };

before(async () => {
  // No grace period: a collection removes what is garbage at once (the GC test shows what stays).
  berth = await startBerth({ env: { BERTH_GC_GRACE_SECONDS: '0' } });
  client = new OciClient(berth.url);
  const login = await berthCliAsync(configDir, ['login', berth.url, '-u', adminCredentials.username, '-p', adminCredentials.password]);
  assert.equal(login.status, 0, login.stderr);
});
after(async () => {
  if (distribution) await stopProcess(distribution);
  await berth?.stop();
});

const call = <T = ErrorBody>(method: string, path: string, body?: unknown) => api<T>(berth.url, adminCredentials, method, path, body);
const setLock = async (path: string, attributes: Attributes) => {
  const res = await call('PATCH', `/acr/v1/${path}`, attributes);
  assert.equal(res.status, 200, JSON.stringify(res.body));
};
const unlockAll: Attributes = { writeEnabled: true, deleteEnabled: true, readEnabled: true, listEnabled: true };

/** 403 DENIED naming the lock, as the OCI error envelope carries it. */
function assertDenied(res: { status: number; body: unknown }, message: string): void {
  assert.equal(res.status, 403, JSON.stringify(res.body));
  const error = (res.body as ErrorBody).errors?.[0];
  assert.equal(error?.code, 'DENIED', JSON.stringify(res.body));
  assert.equal(error?.message, message);
}

async function raw(method: string, path: string, init: { body?: string; headers?: Record<string, string> } = {}): Promise<{ status: number; body: unknown }> {
  const res = await client.request(method, path, init);
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as unknown) : undefined };
}

const putManifest = (repository: string, reference: string, manifest: object) =>
  raw('PUT', `/v2/${repository}/manifests/${reference}`, { body: JSON.stringify(manifest), headers: { 'Content-Type': mediaTypes.ociManifest } });
const digestOf = async (repository: string, reference: string) => (await client.request('HEAD', `/v2/${repository}/manifests/${reference}`, { headers: accept })).headers.get('docker-content-digest');
const tagLocked = (repository: string, tag: string, attribute: string) => `tag "${tag}" in repository "${repository}" is locked: ${attribute} is false`;
const repositoryLocked = (repository: string, attribute: string) => `repository "${repository}" is locked: ${attribute} is false`;
const manifestLocked = (repository: string, digest: string, attribute: string) => `manifest "${digest}" in repository "${repository}" is locked: ${attribute} is false`;

describe('a locked tag', () => {
  it('writeEnabled=false: not moved (the same digest re-pushes), not untagged, and its manifest is not deleted; the rest of the repository is', async () => {
    const repo = 'locks/tag';
    const a = await client.pushImage(repo, 'v1');
    const b = await client.pushImage(repo, 'other');
    await client.pushManifest(repo, 'v1-alias', a.manifest);
    await setLock(`${repo}/_tags/v1`, { writeEnabled: false });
    const message = tagLocked(repo, 'v1', 'writeEnabled');

    assertDenied(await putManifest(repo, 'v1', b.manifest), message);
    assert.equal(await digestOf(repo, 'v1'), a.digest);
    assert.equal((await putManifest(repo, 'v1', a.manifest)).status, 201, 'the digest it already names is re-pushed');
    assertDenied(await raw('DELETE', `/v2/${repo}/manifests/v1`), message);
    assertDenied(await call('DELETE', `/acr/v1/${repo}/_tags/v1`), message);
    assertDenied(await raw('DELETE', `/v2/${repo}/manifests/${a.digest}`), message);
    assertDenied(await call('DELETE', `/acr/v1/${repo}/_manifests/v1-alias`), message);
    assert.deepEqual((await tagsOf(client, repo)).sort(), ['other', 'v1', 'v1-alias']);
    assert.equal(await manifestStatus(client, repo, a.digest), 200);

    // Independent levels: the manifest's attributes are its own, and its other tag is free.
    const manifest = await call<{ manifest: { changeableAttributes: Attributes } }>('GET', `/acr/v1/${repo}/_manifests/${a.digest}`);
    assert.deepEqual(manifest.body.manifest.changeableAttributes, unlockAll);
    assert.equal((await raw('DELETE', `/v2/${repo}/manifests/v1-alias`)).status, 202);
    assert.equal((await putManifest(repo, 'other', a.manifest)).status, 201, 'an unlocked tag moves');
    assert.equal((await raw('DELETE', `/v2/${repo}/manifests/${b.digest}`)).status, 202);

    await setLock(`${repo}/_tags/v1`, { writeEnabled: true });
    const c = await client.pushImage(repo, 'v1');
    assert.equal(await digestOf(repo, 'v1'), c.digest);
    assert.equal((await raw('DELETE', `/v2/${repo}/manifests/v1`)).status, 202);
  });

  it('deleteEnabled=false: moves, but is not untagged, and its manifest is not deleted', async () => {
    const repo = 'locks/tag-delete';
    const a = await client.pushImage(repo, 'v1');
    await setLock(`${repo}/_tags/v1`, { deleteEnabled: false });
    const message = tagLocked(repo, 'v1', 'deleteEnabled');
    const b = await client.pushImage(repo, 'v1');
    assert.equal(await digestOf(repo, 'v1'), b.digest, 'an overwrite is allowed');
    assertDenied(await raw('DELETE', `/v2/${repo}/manifests/v1`), message);
    assertDenied(await raw('DELETE', `/v2/${repo}/manifests/${b.digest}`), message);
    assert.equal((await raw('DELETE', `/v2/${repo}/manifests/${a.digest}`)).status, 202, 'the manifest it left is free');
    await setLock(`${repo}/_tags/v1`, { deleteEnabled: true });
    assert.equal((await raw('DELETE', `/v2/${repo}/manifests/${b.digest}`)).status, 202);
    assert.deepEqual(await tagsOf(client, repo), []);
  });
});

describe('a locked repository', () => {
  it('writeEnabled=false: no push by tag or digest, no delete (tag, manifest, blob); pulls still work', async () => {
    const repo = 'locks/repo';
    const a = await client.pushImage(repo, 'v1');
    const layer = (a.manifest as { layers: Array<{ digest: string }> }).layers[0]!.digest;
    await setLock(repo, { writeEnabled: false });
    const message = repositoryLocked(repo, 'writeEnabled');
    // Blobs go in (nothing names them until a manifest does; the collector takes them otherwise).
    const extra = await client.pushBlob(repo, `a layer for a refused manifest ${Math.random()}`);
    const refused = { ...a.manifest, layers: [{ ...extra, mediaType: mediaTypes.ociLayer }] };
    assertDenied(await putManifest(repo, 'v2', refused), message);
    const refusedDigest = sha256(JSON.stringify(refused));
    assertDenied(await putManifest(repo, refusedDigest, refused), message);
    assertDenied(await putManifest(repo, 'v1', a.manifest), message);
    assertDenied(await raw('DELETE', `/v2/${repo}/manifests/v1`), message);
    assertDenied(await raw('DELETE', `/v2/${repo}/manifests/${a.digest}`), message);
    assertDenied(await raw('DELETE', `/v2/${repo}/blobs/${layer}`), message);
    assertDenied(await call('DELETE', `/acr/v1/${repo}/_manifests/v1`), message);
    assert.deepEqual(await tagsOf(client, repo), ['v1']);
    assert.equal(await manifestStatus(client, repo, refusedDigest), 404);
    assert.equal(await manifestStatus(client, repo, 'v1'), 200);
    assert.equal((await client.request('GET', `/v2/${repo}/blobs/${layer}`)).status, 200);

    await setLock(repo, { writeEnabled: true });
    assert.equal((await putManifest(repo, 'v2', refused)).status, 201);
    assert.equal((await raw('DELETE', `/v2/${repo}/manifests/v1`)).status, 202);
  });

  it('deleteEnabled=false: pushes and overwrites, refuses deletes', async () => {
    const repo = 'locks/repo-delete';
    const a = await client.pushImage(repo, 'v1');
    await setLock(repo, { deleteEnabled: false });
    const message = repositoryLocked(repo, 'deleteEnabled');
    const b = await client.pushImage(repo, 'v1');
    assert.equal(await digestOf(repo, 'v1'), b.digest);
    assertDenied(await raw('DELETE', `/v2/${repo}/manifests/v1`), message);
    assertDenied(await raw('DELETE', `/v2/${repo}/manifests/${a.digest}`), message);
    await setLock(repo, { deleteEnabled: true });
    assert.equal((await raw('DELETE', `/v2/${repo}/manifests/${a.digest}`)).status, 202);
  });
});

describe('a locked manifest', () => {
  it('writeEnabled=false: not deleted by digest nor by a tag that takes it; its tags stay free', async () => {
    const repo = 'locks/manifest';
    const a = await client.pushImage(repo, 'v1');
    await client.pushManifest(repo, 'v2', a.manifest);
    await setLock(`${repo}/_manifests/${a.digest}`, { writeEnabled: false });
    const message = manifestLocked(repo, a.digest, 'writeEnabled');
    assertDenied(await raw('DELETE', `/v2/${repo}/manifests/${a.digest}`), message);
    assertDenied(await call('DELETE', `/acr/v1/${repo}/_manifests/v1`), message);
    const cli = await berthCliAsync(configDir, ['repository', 'delete', '--image', `${repo}:v1`, '--yes']);
    assert.notEqual(cli.status, 0);
    assert.match(cli.stderr, new RegExp(message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    assert.deepEqual((await tagsOf(client, repo)).sort(), ['v1', 'v2']);
    // Untagging frees nothing, so the manifest's lock does not hold its tags.
    assert.equal((await raw('DELETE', `/v2/${repo}/manifests/v2`)).status, 202);
    await client.pushImage(repo, 'v1');
    assert.equal(await manifestStatus(client, repo, a.digest), 200);
    await setLock(`${repo}/_manifests/${a.digest}`, { writeEnabled: true });
    assert.equal((await raw('DELETE', `/v2/${repo}/manifests/${a.digest}`)).status, 202);
  });
});

describe('read locks', () => {
  it('refuse pulls by tag, by digest and of blobs at their level only', async () => {
    const repo = 'locks/read';
    const a = await client.pushImage(repo, 'v1');
    const b = await client.pushImage(repo, 'v2');
    const layer = (a.manifest as { layers: Array<{ digest: string }> }).layers[0]!.digest;

    await setLock(`${repo}/_tags/v1`, { readEnabled: false });
    assertDenied(await raw('GET', `/v2/${repo}/manifests/v1`, { headers: accept }), tagLocked(repo, 'v1', 'readEnabled'));
    assert.equal((await client.request('HEAD', `/v2/${repo}/manifests/v1`, { headers: accept })).status, 403);
    assert.equal(await manifestStatus(client, repo, a.digest), 200, 'the tag\'s lock is not its manifest\'s');
    assert.equal((await client.request('GET', `/v2/${repo}/blobs/${layer}`)).status, 200);
    await setLock(`${repo}/_tags/v1`, { readEnabled: true });

    await setLock(`${repo}/_manifests/${b.digest}`, { readEnabled: false });
    const manifestMessage = manifestLocked(repo, b.digest, 'readEnabled');
    assertDenied(await raw('GET', `/v2/${repo}/manifests/${b.digest}`, { headers: accept }), manifestMessage);
    assertDenied(await raw('GET', `/v2/${repo}/manifests/v2`, { headers: accept }), manifestMessage);
    assert.equal(await manifestStatus(client, repo, 'v1'), 200);
    await setLock(`${repo}/_manifests/${b.digest}`, { readEnabled: true });

    await setLock(repo, { readEnabled: false });
    const repoMessage = repositoryLocked(repo, 'readEnabled');
    assertDenied(await raw('GET', `/v2/${repo}/manifests/v1`, { headers: accept }), repoMessage);
    assertDenied(await raw('GET', `/v2/${repo}/manifests/${b.digest}`, { headers: accept }), repoMessage);
    assertDenied(await raw('GET', `/v2/${repo}/blobs/${layer}`), repoMessage);
    assert.equal((await client.request('HEAD', `/v2/${repo}/blobs/${layer}`)).status, 403);
    // A read lock hides nothing and stops no push.
    assert.deepEqual(await tagsOf(client, repo), ['v1', 'v2']);
    await client.pushImage(repo, 'v3');
    await setLock(repo, { readEnabled: true });
    assert.equal(await manifestStatus(client, repo, 'v3'), 200);
    assert.equal((await client.request('GET', `/v2/${repo}/blobs/${layer}`)).status, 200);
  });
});

describe('list locks', () => {
  it('hide from the catalogs and tag and manifest listings, yet everything still pulls', async () => {
    const repo = 'locks/hidden';
    const a = await client.pushImage(repo, 'v1');
    const b = await client.pushImage(repo, 'v2');
    const catalog = async () => (await call<{ repositories: string[] }>('GET', '/v2/_catalog?n=1000')).body.repositories;
    const acrCatalog = async () => (await call<{ repositories: string[] }>('GET', '/acr/v1/_catalog?n=1000')).body.repositories;
    const acrTags = async () => (await call<{ tags: Array<{ name: string }> }>('GET', `/acr/v1/${repo}/_tags`)).body.tags.map((t) => t.name);
    const acrManifests = async () => (await call<{ manifests: Array<{ digest: string }> }>('GET', `/acr/v1/${repo}/_manifests`)).body.manifests.map((m) => m.digest);
    assert.ok((await catalog()).includes(repo));

    await setLock(repo, { listEnabled: false });
    assert.ok(!(await catalog()).includes(repo));
    assert.ok(!(await acrCatalog()).includes(repo));
    const listed = await berthCliAsync(configDir, ['repository', 'list', '-o', 'json']);
    assert.equal(listed.status, 0, listed.stderr);
    assert.ok(!(JSON.parse(listed.stdout) as string[]).includes(repo));
    assert.ok((JSON.parse(listed.stdout) as string[]).includes('locks/read'));
    assert.equal(await manifestStatus(client, repo, 'v1'), 200);
    await client.pushImage(repo, 'v3');
    await setLock(repo, { listEnabled: true });
    assert.ok((await acrCatalog()).includes(repo));

    // The CLI prints the attributes it set, as `az acr repository update` does.
    const updated = await berthCliAsync(configDir, ['repository', 'update', '--image', `${repo}:v1`, '--list-enabled', 'false']);
    assert.equal(updated.status, 0, updated.stderr);
    assert.match(updated.stdout, /DeleteEnabled\s+WriteEnabled\s+ReadEnabled\s+ListEnabled/);
    assert.deepEqual((await tagsOf(client, repo)).sort(), ['v2', 'v3']);
    assert.deepEqual((await acrTags()).sort(), ['v2', 'v3']);
    assert.equal(await manifestStatus(client, repo, 'v1'), 200);
    assert.equal((await call('GET', `/acr/v1/${repo}/_tags/v1`)).status, 200, 'shown when asked for by name');

    await setLock(`${repo}/_manifests/${b.digest}`, { listEnabled: false });
    const manifests = await acrManifests();
    assert.ok(manifests.includes(a.digest));
    assert.ok(!manifests.includes(b.digest));
    assert.equal(await manifestStatus(client, repo, b.digest), 200);
    assert.deepEqual((await tagsOf(client, repo)).sort(), ['v2', 'v3'], 'a manifest\'s lock does not hide its tags');
    await setLock(`${repo}/_manifests/${b.digest}`, { listEnabled: true });
    await setLock(`${repo}/_tags/v1`, { listEnabled: true });
    assert.ok((await acrManifests()).includes(b.digest));
    assert.deepEqual((await tagsOf(client, repo)).sort(), ['v1', 'v2', 'v3']);
  });
});

interface Job {
  id: string;
  status: string;
  error: string | null;
}

async function importAndWait(body: Record<string, unknown>): Promise<Job> {
  const submitted = await call<Job>('POST', '/api/v1/imports', body);
  assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
  return waitFor(
    async () => {
      const job = (await call<Job>('GET', `/api/v1/imports/${submitted.body.id}`)).body;
      return job.status === 'succeeded' || job.status === 'failed' ? job : null;
    },
    { what: `import ${submitted.body.id} to finish`, timeoutMs: 120_000 },
  );
}

describe('import', () => {
  before(async () => {
    const dir = tempDir('locks-distribution');
    const port = 20000 + Math.floor(Math.random() * 20000);
    distributionHost = `127.0.0.1:${port}`;
    writeFileSync(join(dir, 'config.yml'), `version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\nhttp:\n  addr: ${distributionHost}\n`);
    distribution = spawnTracked('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: 'ignore', unref: true });
    await waitFor(async () => (await fetch(`http://${distributionHost}/v2/`).catch(() => null))?.status === 200, { what: `docker-registry to answer on ${distributionHost}` });
    await client.pushImage('locks/import-source', 'v1');
    await run('skopeo', [
      'copy', '--src-tls-verify=false', '--dest-tls-verify=false', '--preserve-digests', '--src-creds', `${adminCredentials.username}:${adminCredentials.password}`,
      `docker://${berth.host}/locks/import-source:v1`, `docker://${distributionHost}/upstream/app:v1`,
    ]);
  });

  it('is refused into a write-locked repository and onto a write-locked tag, --force or not, with the lock in the job error', async () => {
    const source = `${distributionHost}/upstream/app:v1`;
    const sourceDigest = await digestOf('locks/import-source', 'v1');
    await client.pushImage('locks/imported', 'keep');
    await setLock('locks/imported', { writeEnabled: false });
    const intoRepo = await importAndWait({ source, targetTags: ['locks/imported:new'], force: true });
    assert.equal(intoRepo.status, 'failed');
    assert.equal(intoRepo.error, repositoryLocked('locks/imported', 'writeEnabled'));
    assert.deepEqual(await tagsOf(client, 'locks/imported'), ['keep']);
    assert.equal(await manifestStatus(client, 'locks/imported', sourceDigest!), 404);

    const old = await client.pushImage('locks/imported-tag', 'v1');
    await setLock('locks/imported-tag/_tags/v1', { writeEnabled: false });
    // Without --force the submission itself is refused, naming the lock (not "use --force").
    assertDenied(await call('POST', '/api/v1/imports', { source, targetTags: ['locks/imported-tag:v1'] }), tagLocked('locks/imported-tag', 'v1', 'writeEnabled'));
    const ontoTag = await importAndWait({ source, targetTags: ['locks/imported-tag:v1'], force: true });
    assert.equal(ontoTag.status, 'failed');
    assert.equal(ontoTag.error, tagLocked('locks/imported-tag', 'v1', 'writeEnabled'));
    assert.equal(await digestOf('locks/imported-tag', 'v1'), old.digest);
    assert.equal(await manifestStatus(client, 'locks/imported-tag', sourceDigest!), 404);

    await setLock('locks/imported', { writeEnabled: true });
    await setLock('locks/imported-tag/_tags/v1', { writeEnabled: true });
    assert.equal((await importAndWait({ source, targetTags: ['locks/imported:new'] })).status, 'succeeded');
    const forced = await importAndWait({ source, targetTags: ['locks/imported-tag:v1'], force: true });
    assert.equal(forced.status, 'succeeded', forced.error ?? '');
    assert.equal(await digestOf('locks/imported-tag', 'v1'), sourceDigest);
  });
});

describe('skopeo onto a write-locked tag', () => {
  it('fails, and the tag still points where it did', async () => {
    const repo = 'locks/skopeo';
    const a = await client.pushImage(repo, 'v1');
    const b = await client.pushImage(repo, 'v2');
    await setLock(`${repo}/_tags/v1`, { writeEnabled: false });
    const creds = `${adminCredentials.username}:${adminCredentials.password}`;
    const copy = () =>
      run('skopeo', ['copy', '--src-tls-verify=false', '--dest-tls-verify=false', '--preserve-digests', '--src-creds', creds, '--dest-creds', creds, `docker://${berth.host}/${repo}:v2`, `docker://${berth.host}/${repo}:v1`]);
    await assert.rejects(copy(), /is locked: writeEnabled is false/);
    assert.equal(await digestOf(repo, 'v1'), a.digest);
    await setLock(`${repo}/_tags/v1`, { writeEnabled: true });
    await copy();
    assert.equal(await digestOf(repo, 'v1'), b.digest);
  });
});

describe('purge and retention leave locked content', () => {
  it('purge skips locked tags and manifests; includeLocked unlocks and deletes them', async () => {
    const repo = 'locks/purge';
    const lockedTag = await client.pushImage(repo, 'old-locked-tag');
    const lockedManifest = await client.pushImage(repo, 'old-locked-manifest');
    await client.pushImage(repo, 'old-free');
    await setLock(`${repo}/_tags/old-locked-tag`, { writeEnabled: false });
    await setLock(`${repo}/_manifests/${lockedManifest.digest}`, { deleteEnabled: false });
    const request = { filters: [`${repo}:^old`], ago: '0d', untagged: true };

    const kept = await purge(berth, request);
    assert.equal(kept.status, 200, JSON.stringify(kept.body));
    // The unlocked tag on the locked manifest goes; the manifest stays, untagged.
    assert.deepEqual(kept.body.repositories.flatMap((r) => r.tags).sort(), ['old-free', 'old-locked-manifest']);
    assert.equal(kept.body.keptByLock, 2, JSON.stringify(kept.body));
    assert.equal(await manifestStatus(client, repo, lockedTag.digest), 200);
    assert.equal(await manifestStatus(client, repo, lockedManifest.digest), 200);
    assert.deepEqual(await tagsOf(client, repo), ['old-locked-tag']);

    const all = await purge(berth, { ...request, includeLocked: true });
    assert.equal(all.status, 200, JSON.stringify(all.body));
    assert.equal(await manifestStatus(client, repo, lockedTag.digest), 404);
    assert.equal(await manifestStatus(client, repo, lockedManifest.digest), 404);
    assert.deepEqual(await tagsOf(client, repo), []);
  });

  it('retention keeps a locked untagged manifest and deletes the unlocked one', async () => {
    const repo = 'locks/retention';
    const locked = await pushUntagged(client, repo, { os: 'linux', architecture: 'amd64' });
    const free = await pushUntagged(client, repo, { os: 'linux', architecture: 'arm64' });
    await setLock(`${repo}/_manifests/${locked.digest}`, { writeEnabled: false });
    const enabled = await call('PUT', '/api/v1/retention', { status: 'enabled', days: 0, type: 'UntaggedManifests' });
    assert.equal(enabled.status, 200, JSON.stringify(enabled.body));
    try {
      await waitFor(async () => (await manifestStatus(client, repo, free.digest)) === 404, { what: 'retention to delete the unlocked untagged manifest' });
      assert.equal(await manifestStatus(client, repo, locked.digest), 200);
    } finally {
      await call('PUT', '/api/v1/retention', { status: 'disabled', days: 7, type: 'UntaggedManifests' });
    }
  });
});

describe('garbage collection', () => {
  it('keeps the blobs of a locked manifest (they are referenced) and takes those of a deleted one', async () => {
    const repo = 'locks/gc';
    const locked = await client.pushImage(repo, 'locked', { layer: `the locked image's own layer ${Math.random()}` });
    const doomed = await client.pushImage(repo, 'doomed', { layer: `the doomed image's own layer ${Math.random()}` });
    const layerOf = (m: object) => (m as { layers: Array<{ digest: string }> }).layers[0]!.digest;
    await setLock(`${repo}/_manifests/${locked.digest}`, { writeEnabled: false });
    assertDenied(await raw('DELETE', `/v2/${repo}/manifests/${locked.digest}`), manifestLocked(repo, locked.digest, 'writeEnabled'));
    // Untagged, so nothing but the manifest itself holds its layer.
    assert.equal((await raw('DELETE', `/v2/${repo}/manifests/locked`)).status, 202);
    assert.equal((await raw('DELETE', `/v2/${repo}/manifests/${doomed.digest}`)).status, 202);
    const gc = await call<{ blobsDeleted: number }>('POST', '/api/v1/gc/runs', { dryRun: false });
    assert.equal(gc.status, 200, JSON.stringify(gc.body));
    assert.ok(gc.body.blobsDeleted >= 1);
    const files = blobFiles(berth.dataDir);
    assert.ok(files.includes(layerOf(locked.manifest).split(':')[1]!), 'the locked manifest\'s layer is on disk');
    assert.ok(!files.includes(layerOf(doomed.manifest).split(':')[1]!), 'the deleted manifest\'s layer is collected');
    assert.equal((await client.request('GET', `/v2/${repo}/blobs/${layerOf(locked.manifest)}`)).status, 200);
    assert.equal(await manifestStatus(client, repo, locked.digest), 200);
  });
});

describe('repository delete', () => {
  it('is refused, deleting nothing, when the repository or anything in it is locked; names the first lock', async () => {
    const repo = 'locks/whole';
    const a = await client.pushImage(repo, 'a');
    await client.pushImage(repo, 'b');
    const before = async () => ({ tags: (await tagsOf(client, repo)).sort(), a: await manifestStatus(client, repo, a.digest) });
    const intact = await before();

    await setLock(`${repo}/_tags/b`, { deleteEnabled: false });
    assertDenied(await call('DELETE', `/acr/v1/${repo}`), tagLocked(repo, 'b', 'deleteEnabled'));
    const cli = await berthCliAsync(configDir, ['repository', 'delete', '--repository', repo, '--yes']);
    assert.notEqual(cli.status, 0);
    assert.match(cli.stderr, /tag "b" in repository "locks\/whole" is locked: deleteEnabled is false/);
    assert.deepEqual(await before(), intact);
    await setLock(`${repo}/_tags/b`, { deleteEnabled: true });

    await setLock(`${repo}/_manifests/${a.digest}`, { writeEnabled: false });
    assertDenied(await call('DELETE', `/acr/v1/${repo}`), manifestLocked(repo, a.digest, 'writeEnabled'));
    assert.deepEqual(await before(), intact);
    await setLock(`${repo}/_manifests/${a.digest}`, { writeEnabled: true });

    await setLock(repo, { deleteEnabled: false });
    assertDenied(await call('DELETE', `/acr/v1/${repo}`), repositoryLocked(repo, 'deleteEnabled'));
    assert.deepEqual(await before(), intact);
    await setLock(repo, { deleteEnabled: true });

    const deleted = await call<{ manifestsDeleted: string[]; tagsDeleted: string[] }>('DELETE', `/acr/v1/${repo}`);
    assert.equal(deleted.status, 202, JSON.stringify(deleted.body));
    assert.equal(deleted.body.manifestsDeleted.length, 2);
    assert.deepEqual(deleted.body.tagsDeleted.sort(), ['a', 'b']);
    assert.deepEqual(await tagsOf(client, repo), []);
  });
});
