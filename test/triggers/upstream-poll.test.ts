import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { adminCredentials, startBerth, type BerthProcess } from '../helpers/berth-process.js';
import { api } from '../helpers/management.js';
import { OciClient } from '../helpers/oci-client.js';
import { MisbehavingProxy } from '../helpers/proxy.js';
import { waitFor } from '../helpers/wait.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/berth-process.js';
import { run } from '../helpers/commands.js';
import { spawnTracked, stopProcess } from '../helpers/processes.js';
import { buildUniqueImage, ensureBusyboxImage } from '../helpers/fixtures.js';

/**
 * Base images in another registry (a second Berth, with auth, behind a proxy that counts and can
 * misbehave): polled with HEAD once per image however many tasks depend on it, a change fires
 * each dependent once, and errors back off, honouring Retry-After. The polling server has no
 * agent, so what is asserted is exactly what was queued.
 */
interface RunView {
  id: string;
  taskName: string;
  trigger: string;
  imageUpdateTrigger?: { images: Array<{ registry: string; repository: string; tag: string; digest: string; previousDigest: string | null }> };
}
interface BaseView {
  registry: string;
  repository: string;
  tag: string;
  checkedAt: string | null;
  error: string | null;
}

describe('upstream base images (polled)', () => {
  let upstream: BerthProcess;
  let berth: BerthProcess;
  let proxy: MisbehavingProxy;
  const call = <T>(method: string, path: string, body?: unknown) => api<T>(berth.url, adminCredentials, method, path, body);
  const runsOf = async (task: string) => (await call<RunView[]>('GET', `/api/v1/runs?task=${task}&top=100`)).body.filter((r) => r.taskName === task);
  const basesOf = async (task: string) => (await call<{ baseImages: BaseView[] }>('GET', `/api/v1/tasks/${task}`)).body.baseImages;
  const heads = (path: string) => proxy.log.filter((e) => e.method === 'HEAD' && e.url === path).length;
  const watcher = async (name: string, image: string) => {
    const created = await call('POST', '/api/v1/tasks', { name, command: 'busybox true', watchImages: [image] });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const credential = await call('POST', `/api/v1/tasks/${name}/credentials`, { loginServer: proxy.host, username: 'admin', password: adminCredentials.password });
    assert.equal(credential.status, 201, JSON.stringify(credential.body));
  };

  before(async () => {
    upstream = await startBerth();
    proxy = new MisbehavingProxy(new URL(upstream.url));
    await proxy.start();
    berth = await startBerth({ env: { BERTH_LOCAL_AGENT: 'false', BERTH_BASE_POLL_SECONDS: '1' } });
  });
  after(async () => {
    await berth?.stop();
    await proxy?.stop();
    await upstream?.stop();
  });

  it('one poll per image for three dependents; an unchanged digest runs nothing; a change runs each dependent once', async () => {
    const client = new OciClient(upstream.url);
    const first = await client.pushImage('runtime/dotnet', '6.0');
    const image = `${proxy.host}/runtime/dotnet:6.0`;
    for (const name of ['platform-a', 'platform-b', 'platform-c']) await watcher(name, image);
    const manifestPath = '/v2/runtime/dotnet/manifests/6.0';
    await waitFor(async () => (await basesOf('platform-a'))[0]?.checkedAt !== null, { what: 'the first poll', timeoutMs: 30_000 });
    const headsBefore = heads(manifestPath);
    const tokensBefore = proxy.log.filter((e) => e.url.startsWith('/oauth2/token')).length;
    const start = Date.now();
    await waitFor(async () => Date.now() - start > 6000, { what: 'six seconds of polling', timeoutMs: 20_000 });
    // One HEAD per second for the image, not three; the bearer token is reused between polls.
    const polls = heads(manifestPath) - headsBefore;
    assert.ok(polls >= 3 && polls <= 9, `one poll per interval for the image, whatever the number of tasks (${polls} in 6 s)`);
    assert.ok(proxy.log.filter((e) => e.url.startsWith('/oauth2/token')).length - tokensBefore <= 1, 'the token is reused');
    assert.ok(heads(manifestPath) > 0 && proxy.log.every((e) => e.method !== 'GET' || !e.url.startsWith('/v2/runtime/dotnet/manifests')), 'HEAD only, never a GET (a GET counts as a pull on Docker Hub)');
    for (const name of ['platform-a', 'platform-b', 'platform-c']) assert.equal((await runsOf(name)).length, 0, `${name}: an unchanged digest runs nothing`);
    const base = (await basesOf('platform-b'))[0]!;
    assert.equal(base.error, null);
    assert.deepEqual([base.registry, base.repository, base.tag], [proxy.host, 'runtime/dotnet', '6.0']);

    const second = await client.pushImage('runtime/dotnet', '6.0');
    for (const name of ['platform-a', 'platform-b', 'platform-c']) {
      const [run] = await waitFor(async () => {
        const runs = await runsOf(name);
        return runs.length > 0 ? runs : null;
      }, { what: `${name} to be queued by the change`, timeoutMs: 30_000 });
      assert.equal(run!.trigger, 'Image Update');
      assert.deepEqual(run!.imageUpdateTrigger!.images, [{ registry: proxy.host, repository: 'runtime/dotnet', tag: '6.0', digest: second.digest, previousDigest: first.digest }]);
    }
    const seen = heads(manifestPath);
    await waitFor(async () => heads(manifestPath) >= seen + 3, { what: 'more polls after the change', timeoutMs: 30_000 });
    for (const name of ['platform-a', 'platform-b', 'platform-c']) assert.equal((await runsOf(name)).length, 1, `${name}: one run for the change`);
  });

  it('an upstream that fails is backed off and shown on the task; a 429 waits for its Retry-After; nothing runs', async () => {
    await new OciClient(upstream.url).pushImage('runtime/flaky', '1');
    const failingPath = '/v2/runtime/flaky/manifests/1';
    proxy.answer = (method, url) => (url === failingPath ? { status: 503 } : null);
    await watcher('flaky-watcher', `${proxy.host}/runtime/flaky:1`);
    const failed = await waitFor(async () => {
      const [base] = await basesOf('flaky-watcher');
      return base?.error ? base : null;
    }, { what: 'the failed poll to show on the task', timeoutMs: 30_000 });
    assert.match(failed.error!, /503/);
    const firstFailure = proxy.log.findIndex((e) => e.url === failingPath);
    const start = Date.now();
    await waitFor(async () => Date.now() - start > 8000, { what: 'eight seconds of back-off', timeoutMs: 20_000 });
    // 1 s polls would make eight attempts; doubling back-off (2, 4, 8 s ±20%) makes at most three.
    const attempts = proxy.log.slice(firstFailure).filter((e) => e.url === failingPath).length;
    assert.ok(attempts <= 4, `backs off (${attempts} attempts in 8 s)`);
    assert.equal((await runsOf('flaky-watcher')).length, 0);

    await new OciClient(upstream.url).pushImage('runtime/limited', '1');
    const limitedPath = '/v2/runtime/limited/manifests/1';
    proxy.answer = (method, url) => (url === limitedPath ? { status: 429, headers: { 'Retry-After': '30' } } : null);
    await watcher('limited-watcher', `${proxy.host}/runtime/limited:1`);
    await waitFor(async () => (await basesOf('limited-watcher'))[0]?.error?.includes('429') ?? false, { what: 'the 429 to show on the task', timeoutMs: 30_000 });
    const limitedAt = Date.now();
    const count = proxy.log.filter((e) => e.url === limitedPath).length;
    await waitFor(async () => Date.now() - limitedAt > 6000, { what: 'six seconds', timeoutMs: 20_000 });
    assert.equal(proxy.log.filter((e) => e.url === limitedPath).length, count, 'no request before the Retry-After');
    proxy.answer = null;
    assert.equal((await runsOf('limited-watcher')).length, 0);
  });

  it('polls CNCF Distribution too (Basic auth, htpasswd): a change runs the dependent once', async (t) => {
    const dir = tempDir('poll-distribution');
    writeFileSync(join(dir, 'htpasswd'), await run('htpasswd', ['-Bbn', 'distuser', 'dist-password']));
    const port = 20000 + Math.floor(Math.random() * 20000);
    const host = `127.0.0.1:${port}`;
    writeFileSync(
      join(dir, 'config.yml'),
      `version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\nhttp:\n  addr: ${host}\nauth:\n  htpasswd:\n    realm: test\n    path: ${join(dir, 'htpasswd')}\n`,
    );
    const registry = spawnTracked('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: 'ignore', unref: true });
    t.after(() => stopProcess(registry));
    await waitFor(async () => (await fetch(`http://${host}/v2/`).catch(() => null))?.status === 401, { what: `docker-registry to answer on ${host}`, timeoutMs: 30_000 });
    // Distribution 2.8 takes no single-request blob uploads: skopeo pushes as any client would.
    const push = async (image: string) => {
      await run('skopeo', ['copy', '--dest-tls-verify=false', '--dest-creds', 'distuser:dist-password', `docker-daemon:${image}`, `docker://${host}/library/runtime:2`]);
      const head = await fetch(`http://${host}/v2/library/runtime/manifests/2`, {
        method: 'HEAD',
        headers: { Authorization: `Basic ${Buffer.from('distuser:dist-password').toString('base64')}`, Accept: 'application/vnd.docker.distribution.manifest.v2+json' },
      });
      return { digest: head.headers.get('docker-content-digest')! };
    };
    const first = await push(await ensureBusyboxImage());
    const created = await call('POST', '/api/v1/tasks', { name: 'dist-watcher', command: 'busybox true', watchImages: [`${host}/library/runtime:2`] });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal((await call('POST', '/api/v1/tasks/dist-watcher/credentials', { loginServer: host, username: 'distuser', password: 'dist-password' })).status, 201);
    await waitFor(async () => (await basesOf('dist-watcher'))[0]?.checkedAt !== null, { what: 'the first poll of Distribution', timeoutMs: 30_000 });
    assert.equal((await basesOf('dist-watcher'))[0]!.error, null);
    await buildUniqueImage('berth-test/poll-runtime:2');
    t.after(() => run('docker', ['rmi', 'berth-test/poll-runtime:2', 'berth-test/poll-runtime:2-base']).catch(() => undefined));
    const second = await push('berth-test/poll-runtime:2');
    assert.notEqual(second.digest, first.digest);
    const [run1] = await waitFor(async () => {
      const runs = await runsOf('dist-watcher');
      return runs.length > 0 ? runs : null;
    }, { what: 'the change in Distribution to queue a run', timeoutMs: 30_000 });
    assert.deepEqual(run1!.imageUpdateTrigger!.images, [{ registry: host, repository: 'library/runtime', tag: '2', digest: second.digest, previousDigest: first.digest }]);
  });
});
