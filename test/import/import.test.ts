import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { adminCredentials, cliPath, startBerth, tempDir, type BerthProcess } from '../helpers/berth-process.js';
import { OciClient, mediaTypes, sha256, type Credentials } from '../helpers/oci-client.js';
import { api, tokenPassword, type CreatedToken } from '../helpers/management.js';
import { MisbehavingProxy } from '../helpers/proxy.js';
import { run } from '../helpers/commands.js';
import { ensureBusyboxImage } from '../helpers/fixtures.js';
import { runProcess, spawnTracked, stopProcess } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';

/** spawnSync of the CLI blocks this process (an import waits for its job): never for ever. */
const cliTimeoutMs = 180_000;

interface Job {
  id: string;
  status: string;
  error: string | null;
  result: { digest: string; manifests: number } | null;
  progress: { bytesTotal: number; bytesDone: number; blobsTotal: number; blobsDone: number };
}

let target: BerthProcess;
let source: BerthProcess;
let sourceToken: Credentials;
const cleanups: Array<() => Promise<unknown>> = [];

async function submit(server: BerthProcess, body: Record<string, unknown>): Promise<{ status: number; body: Job & { errors?: Array<{ code: string; message: string }> } }> {
  return api(server.url, adminCredentials, 'POST', '/api/v1/imports', body);
}

async function waitForJob(server: BerthProcess, id: string, timeoutMs = 120_000): Promise<Job> {
  let last = 'unknown';
  return waitFor(
    async () => {
      const { body } = await api<Job>(server.url, adminCredentials, 'GET', `/api/v1/imports/${id}`);
      last = body.status;
      return body.status === 'succeeded' || body.status === 'failed' ? body : null;
    },
    { what: `import ${id} to finish`, timeoutMs, detail: () => `it is still ${last}` },
  );
}

async function importAndWait(server: BerthProcess, body: Record<string, unknown>): Promise<Job> {
  const submitted = await submit(server, body);
  assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
  return waitForJob(server, submitted.body.id);
}

async function manifestDigest(server: BerthProcess, repo: string, ref: string): Promise<string | null> {
  const res = await new OciClient(server.url).request('HEAD', `/v2/${repo}/manifests/${ref}`);
  return res.status === 200 ? res.headers.get('docker-content-digest') : null;
}

before(async () => {
  target = await startBerth();
  source = await startBerth({ env: { BERTH_ADMIN_PASSWORD: 'source-admin-pw' } });
  const created = await api<CreatedToken>(source.url, { username: 'admin', password: 'source-admin-pw' }, 'POST', '/api/v1/tokens', {
    name: 'importer',
    rules: [{ repository: 'lib/*', actions: ['content/read'] }],
  });
  sourceToken = { username: 'importer', password: tokenPassword(created.body) };
});
after(async () => {
  for (const cleanup of cleanups) await cleanup();
  await target?.stop();
  await source?.stop();
});

const sourceAdmin = () => new OciClient(source.url, { username: 'admin', password: 'source-admin-pw' });

describe('import from another Berth (token auth)', () => {
  it('copies the manifest and every blob, digest for digest', async () => {
    const image = await sourceAdmin().pushImage('lib/app', 'v1', { layer: randomBytes(300_000).toString('hex') });
    const job = await importAndWait(target, { source: `${source.host}/lib/app:v1`, targetTags: ['imported/app:v1'], username: sourceToken.username, password: sourceToken.password });
    assert.equal(job.status, 'succeeded', job.error ?? '');
    assert.equal(job.result?.digest, image.digest);
    assert.equal(await manifestDigest(target, 'imported/app', 'v1'), image.digest);
    const manifest = image.manifest as { config: { digest: string }; layers: Array<{ digest: string }> };
    for (const digest of [manifest.config.digest, ...manifest.layers.map((l) => l.digest)]) {
      const blob = await new OciClient(target.url).request('GET', `/v2/imported/app/blobs/${digest}`);
      assert.equal(blob.status, 200);
      assert.equal(sha256(Buffer.from(await blob.arrayBuffer())), digest);
    }
    assert.equal(job.progress.blobsDone, 2);
    assert.equal(job.progress.bytesDone, job.progress.bytesTotal);
    const audit = await api<Array<{ kind: string; actor: string; detail: { source?: string } }>>(target.url, adminCredentials, 'GET', '/api/v1/audit?target=imported/app');
    const imported = audit.body.find((e) => e.kind === 'image.imported');
    assert.equal(imported?.actor, 'admin');
    assert.equal(imported?.detail.source, `${source.host}/lib/app:v1`);
    assert.ok(audit.body.some((e) => e.kind === 'image.pushed' && e.actor === 'admin'), 'the import push is the requester\'s');
  });

  it('a token without pull on the source fails the job clearly', async () => {
    await sourceAdmin().pushImage('private/app', 'v1');
    const job = await importAndWait(target, { source: `${source.host}/private/app:v1`, targetTags: ['imported/private:v1'], username: sourceToken.username, password: sourceToken.password });
    assert.equal(job.status, 'failed');
    assert.match(job.error ?? '', /denied|not found|unknown/i);
    assert.equal(await manifestDigest(target, 'imported/private', 'v1'), null, 'nothing half-visible');
  });

  it('imports every platform of a multi-arch index', async () => {
    const client = sourceAdmin();
    const children = [];
    for (const architecture of ['amd64', 'arm64']) {
      const platform = { os: 'linux', architecture };
      const image = await client.pushImage('lib/multi', architecture, { platform });
      children.push({ mediaType: mediaTypes.ociManifest, digest: image.digest, size: image.size, platform });
    }
    const { digest } = await client.pushManifest('lib/multi', 'all', { schemaVersion: 2, mediaType: mediaTypes.ociIndex, manifests: children });
    const job = await importAndWait(target, { source: `${source.host}/lib/multi:all`, targetTags: ['imported/multi:all'], username: sourceToken.username, password: sourceToken.password });
    assert.equal(job.status, 'succeeded', job.error ?? '');
    assert.equal(job.result?.manifests, 3);
    assert.equal(await manifestDigest(target, 'imported/multi', 'all'), digest);
    for (const child of children) assert.equal(await manifestDigest(target, 'imported/multi', child.digest), child.digest);
  });

  it('with --include-referrers, signatures come along', async () => {
    const client = sourceAdmin();
    const subject = await client.pushImage('lib/signed', 'v1');
    const sig = await client.pushSignature('lib/signed', subject);
    const job = await importAndWait(target, { source: `${source.host}/lib/signed:v1`, targetTags: ['imported/signed:v1'], includeReferrers: true, username: sourceToken.username, password: sourceToken.password });
    assert.equal(job.status, 'succeeded', job.error ?? '');
    const referrers = await new OciClient(target.url).request('GET', `/v2/imported/signed/referrers/${subject.digest}`);
    assert.deepEqual(((await referrers.json()) as { manifests: Array<{ digest: string }> }).manifests.map((m) => m.digest), [sig.digest]);
  });
});

describe('import semantics', () => {
  it('an existing tag is not overwritten without --force', async () => {
    const first = await sourceAdmin().pushImage('lib/forced', 'v1');
    await new OciClient(target.url).pushImage('imported/forced', 'v1');
    const refused = await submit(target, { source: `${source.host}/lib/forced:v1`, targetTags: ['imported/forced:v1'], username: sourceToken.username, password: sourceToken.password });
    assert.equal(refused.status, 409);
    assert.match(refused.body.errors![0]!.message, /--force/);
    const forced = await importAndWait(target, { source: `${source.host}/lib/forced:v1`, targetTags: ['imported/forced:v1'], force: true, username: sourceToken.username, password: sourceToken.password });
    assert.equal(forced.status, 'succeeded', forced.error ?? '');
    assert.equal(await manifestDigest(target, 'imported/forced', 'v1'), first.digest);
  });

  it('blobs already in the registry are not fetched again; a same-registry source is mounted', async () => {
    const proxy = new MisbehavingProxy(new URL(source.url));
    await proxy.start();
    cleanups.push(() => proxy.stop());
    const image = await sourceAdmin().pushImage('lib/dedup', 'v1', { layer: randomBytes(100_000).toString('hex') });
    const layer = (image.manifest as { layers: Array<{ digest: string }> }).layers[0]!.digest;
    const first = await importAndWait(target, { source: `${proxy.host}/lib/dedup:v1`, targetTags: ['dedup/one:v1'], username: sourceToken.username, password: sourceToken.password });
    assert.equal(first.status, 'succeeded', first.error ?? '');
    assert.ok(proxy.blobGets().some((e) => e.url.includes(layer)), 'the new layer was fetched');
    const fetchedBefore = proxy.blobGets().length;
    const second = await importAndWait(target, { source: `${proxy.host}/lib/dedup:v1`, targetTags: ['dedup/two:v1'], username: sourceToken.username, password: sourceToken.password });
    assert.equal(second.status, 'succeeded', second.error ?? '');
    assert.equal(proxy.blobGets().length, fetchedBefore, 'no blob fetched twice');
    const self = await importAndWait(target, { source: `${target.host}/dedup/one:v1`, targetTags: ['dedup/three:v1'] });
    assert.equal(self.status, 'succeeded', self.error ?? '');
    assert.equal(await manifestDigest(target, 'dedup/three', 'v1'), await manifestDigest(target, 'dedup/one', 'v1'));
  });

  it('a source that drops the connection midway is resumed with Range requests', async () => {
    const proxy = new MisbehavingProxy(new URL(source.url));
    await proxy.start();
    cleanups.push(() => proxy.stop());
    const big = randomBytes(12 * 1024 * 1024);
    const client = sourceAdmin();
    const layer = await client.pushBlob('lib/big', big);
    const config = await client.pushBlob('lib/big', JSON.stringify({ os: 'linux', architecture: 'amd64' }));
    const { digest } = await client.pushManifest('lib/big', 'v1', {
      schemaVersion: 2,
      mediaType: mediaTypes.ociManifest,
      config: { ...config, mediaType: mediaTypes.ociConfig },
      layers: [{ ...layer, mediaType: mediaTypes.ociLayer }],
    });
    proxy.dropBlob = { digest: layer.digest, after: 1024 * 1024 };
    const job = await importAndWait(target, { source: `${proxy.host}/lib/big:v1`, targetTags: ['imported/big:v1'], username: sourceToken.username, password: sourceToken.password });
    assert.equal(job.status, 'succeeded', job.error ?? '');
    assert.equal(await manifestDigest(target, 'imported/big', 'v1'), digest);
    const gets = proxy.blobGets().filter((e) => e.url.includes(layer.digest));
    assert.ok(gets.some((e) => e.dropped), 'one response was cut');
    assert.ok(gets.every((e) => e.range?.startsWith('bytes=')), 'every request was ranged');
    const blob = await new OciClient(target.url).request('GET', `/v2/imported/big/blobs/${layer.digest}`);
    assert.equal(sha256(Buffer.from(await blob.arrayBuffer())), layer.digest);
  });

  it('bad input is refused before any work', async () => {
    for (const [body, status] of [
      [{ source: 'not a reference!' }, 400],
      [{ source: `${source.host}/lib/app:v1`, targetTags: ['Bad/Name:v1'] }, 400],
    ] as const) {
      assert.equal((await submit(target, body)).status, status, JSON.stringify(body));
    }
    const reader = await api<CreatedToken>(target.url, adminCredentials, 'POST', '/api/v1/tokens', { name: 'import-reader', rules: [{ repository: '*', actions: ['content/read'] }] });
    const denied = await api(target.url, { username: 'import-reader', password: tokenPassword(reader.body) }, 'POST', '/api/v1/imports', { source: `${source.host}/lib/app:v1`, targetTags: ['x/y:v1'] });
    assert.equal(denied.status, 403, 'import needs push on the target');
  });
});

describe('import from CNCF Distribution (htpasswd)', () => {
  let registry: ChildProcess;
  let host = '';
  before(async () => {
    const dir = tempDir('distribution');
    const htpasswd = await run('htpasswd', ['-Bbn', 'distuser', 'dist-password']);
    writeFileSync(join(dir, 'htpasswd'), htpasswd);
    const port = 20000 + Math.floor(Math.random() * 20000);
    host = `127.0.0.1:${port}`;
    writeFileSync(
      join(dir, 'config.yml'),
      `version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\nhttp:\n  addr: ${host}\nauth:\n  htpasswd:\n    realm: test\n    path: ${join(dir, 'htpasswd')}\n`,
    );
    registry = spawnTracked('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: 'ignore', unref: true });
    await waitFor(async () => (await fetch(`http://${host}/v2/`)).status === 401, { what: `docker-registry to answer on ${host}` });
    const image = await ensureBusyboxImage();
    await run('skopeo', ['copy', '--dest-tls-verify=false', '--dest-creds', 'distuser:dist-password', `docker-daemon:${image}`, `docker://${host}/upstream/busybox:1`]);
  });
  after(async () => {
    if (registry) await stopProcess(registry);
  });

  it('imports with Basic credentials, through the CLI with its progress bar', async () => {
    const configDir = tempDir('import-cli');
    const cli = (args: string[]) => spawnSync(process.execPath, [cliPath, ...args], { env: { ...process.env, BERTH_CONFIG_DIR: configDir }, encoding: 'utf8', timeout: cliTimeoutMs, killSignal: 'SIGKILL' });
    assert.equal(cli(['login', target.url, '-u', 'admin', '-p', adminCredentials.password]).status, 0);
    const result = cli(['import', '--source', `${host}/upstream/busybox:1`, '-t', 'mirror/busybox:1', '-u', 'distuser', '-p', 'dist-password']);
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stderr, /\[#+\] [\d.]+\/[\d.]+ MiB, layers 2\/2, manifests 1\/1 succeeded/);
    assert.match(result.stdout, /succeeded/);
    const upstream = await fetch(`http://${host}/v2/upstream/busybox/manifests/1`, {
      method: 'HEAD',
      headers: { Authorization: `Basic ${Buffer.from('distuser:dist-password').toString('base64')}`, Accept: 'application/vnd.docker.distribution.manifest.v2+json' },
    });
    assert.equal(await manifestDigest(target, 'mirror/busybox', '1'), upstream.headers.get('docker-content-digest'));
    const wrong = cli(['import', '--source', `${host}/upstream/busybox:1`, '-t', 'mirror/busybox:2', '-u', 'distuser', '-p', 'wrong']);
    assert.equal(wrong.status, 1);
    assert.match(wrong.stderr, /import failed: .*(denied|refused|401)/i);
    const noWait = cli(['import', '--source', `${host}/upstream/busybox:1`, '-t', 'mirror/busybox:3', '-u', 'distuser', '-p', 'dist-password', '--no-wait', '-o', 'json']);
    assert.equal(noWait.status, 0, noWait.stderr);
    const queued = JSON.parse(noWait.stdout) as Job;
    assert.ok(['queued', 'running'].includes(queued.status));
    assert.equal((await waitForJob(target, queued.id)).status, 'succeeded');
  });
});

describe('import inside a task', () => {
  it('cmd: berth import runs in a task file, logged in as the run, secrets masked', async () => {
    const image = await sourceAdmin().pushImage('lib/fromtask', 'v1');
    const folder = tempDir('import-task');
    writeFileSync(
      join(folder, 'acr-task.yaml'),
      `version: v1.1.0\nsteps:\n  - cmd: berth import --source ${source.host}/lib/fromtask:v1 -t fromtask/app:v1 -u ${sourceToken.username} -p {{.Secrets.pw}}\n`,
    );
    const configDir = tempDir('import-task-cli');
    const cli = (args: string[]) => spawnSync(process.execPath, [cliPath, ...args], { env: { ...process.env, BERTH_CONFIG_DIR: configDir }, encoding: 'utf8', timeout: cliTimeoutMs, killSignal: 'SIGKILL' });
    assert.equal(cli(['login', target.url, '-u', 'admin', '-p', adminCredentials.password]).status, 0);
    const result = await runProcess(process.execPath, [cliPath, 'run', '-f', 'acr-task.yaml', '--set-secret', `pw=${sourceToken.password}`, folder], { env: { ...process.env, BERTH_CONFIG_DIR: configDir } });
    assert.equal(result.status, 0, result.stdout);
    assert.match(result.stdout, /succeeded/);
    assert.ok(!result.stdout.includes(sourceToken.password));
    assert.equal(await manifestDigest(target, 'fromtask/app', 'v1'), image.digest);
  });
});

describe('import across a restart', () => {
  it('an interrupted job from an anonymous source resumes; one with credentials fails clearly', async (t) => {
    await api(source.url, { username: 'admin', password: 'source-admin-pw' }, 'PATCH', '/api/v1/settings', { anonymousPullEnabled: true });
    const client = sourceAdmin();
    const layer = await client.pushBlob('lib/slow', randomBytes(6 * 1024 * 1024));
    const config = await client.pushBlob('lib/slow', JSON.stringify({ os: 'linux', architecture: 'amd64' }));
    const { digest } = await client.pushManifest('lib/slow', 'v1', {
      schemaVersion: 2,
      mediaType: mediaTypes.ociManifest,
      config: { ...config, mediaType: mediaTypes.ociConfig },
      layers: [{ ...layer, mediaType: mediaTypes.ociLayer }],
    });
    const proxy = new MisbehavingProxy(new URL(source.url));
    await proxy.start();
    cleanups.push(() => proxy.stop());
    proxy.throttle = 2 * 1024 * 1024;
    const dataDir = tempDir('import-restart');
    let server = await startBerth({ dataDir, t });
    const anonymous = await submit(server, { source: `${proxy.host}/lib/slow:v1`, targetTags: ['restart/anon:v1'] });
    const withCreds = await submit(server, { source: `${proxy.host}/lib/slow:v1`, targetTags: ['restart/creds:v1'], username: sourceToken.username, password: sourceToken.password });
    // Crash mid-download: both jobs running, the (throttled) layer still on its way.
    const statusOf = async (id: string) => (await api<Job>(server.url, adminCredentials, 'GET', `/api/v1/imports/${id}`)).body.status;
    const layerInFlight = () => proxy.blobGets().some((e) => e.url.includes(layer.digest) && !e.finished);
    await waitFor(async () => (await statusOf(anonymous.body.id)) === 'running' && (await statusOf(withCreds.body.id)) === 'running' && layerInFlight(), {
      what: 'both imports to be running with the layer download under way',
      detail: async () => `jobs: ${await statusOf(anonymous.body.id)}, ${await statusOf(withCreds.body.id)}; layer GETs: ${JSON.stringify(proxy.blobGets())}`,
    });
    await server.stop('SIGKILL');
    proxy.throttle = null;
    server = await startBerth({ dataDir, t });
    const resumed = await waitForJob(server, anonymous.body.id);
    assert.equal(resumed.status, 'succeeded', resumed.error ?? '');
    assert.equal(await manifestDigest(server, 'restart/anon', 'v1'), digest);
    const failed = await waitForJob(server, withCreds.body.id);
    assert.equal(failed.status, 'failed');
    assert.match(failed.error ?? '', /restarted.*credentials/);
    assert.equal(await manifestDigest(server, 'restart/creds', 'v1'), null, 'never half-visible');
    await server.stop();
  });
});
