import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { adminCredentials, startBerth, type BerthProcess } from '../helpers/berth-process.js';
import { api } from '../helpers/management.js';
import { OciClient } from '../helpers/oci-client.js';
import { waitFor } from '../helpers/wait.js';

/**
 * The base-image update trigger in this registry, with no engine: the server has no local agent,
 * and the test plays the agent over the agent API, so it decides when a run is queued, running
 * or done, and pushes with a run's own login (which is how a chain is recognised).
 */
const agentKey = 'image-update-test-agent-key';
const agent = 'test-agent';

interface RunView {
  id: string;
  taskName: string;
  status: string;
  trigger: string;
  triggerChain?: string[];
  imageUpdateTrigger?: { id: string; timestamp: string; images: Array<{ registry: string; repository: string; tag: string; digest: string; previousDigest: string | null }> };
}

describe('base-image update trigger (pushes to this registry)', () => {
  let berth: BerthProcess;
  let client: OciClient;
  const call = <T>(method: string, path: string, body?: unknown) => api<T>(berth.url, adminCredentials, method, path, body);
  const agentCall = async <T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> => {
    const res = await fetch(`${berth.url}/api/v1/agent/${agent}${path}`, {
      method,
      headers: { Authorization: `Bearer ${agentKey}`, ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
  };
  const runsOf = async (task: string) => (await call<RunView[]>('GET', `/api/v1/runs?task=${task}&top=100`)).body.filter((r) => r.taskName === task);
  const createWatcher = async (name: string, watch: string[], extra: Record<string, unknown> = {}) => {
    const res = await call('POST', '/api/v1/tasks', { name, command: 'busybox true', watchImages: watch, ...extra });
    assert.equal(res.status, 201, JSON.stringify(res.body));
  };
  /** Waits until the trigger has handled every journaled push so far: a marker task fires last. */
  const settle = async () => {
    const marker = `settle/m${Math.random().toString(36).slice(2, 8)}`;
    await createWatcher(`mark-${marker.slice(8)}`, [`${berth.host}/${marker}:latest`]);
    await client.pushImage(marker, 'latest');
    await waitFor(async () => (await runsOf(`mark-${marker.slice(8)}`)).length === 1, { what: 'the marker push to fire its task', timeoutMs: 30_000 });
  };
  const claim = async (): Promise<RunView> => {
    const claimed = await agentCall<{ run: RunView }>('POST', '/claim', { platforms: ['linux/amd64'] });
    assert.equal(claimed.status, 200, 'a queued run to claim');
    return claimed.body.run;
  };
  const finish = (id: string) => agentCall('POST', `/runs/${id}/finish`, { status: 'Succeeded', error: null, steps: [], outputImages: [] });
  /** Claims queued runs until the one for `task` (finishing the others). */
  const claimRunOf = async (task: string): Promise<RunView> => {
    for (let i = 0; i < 20; i++) {
      const run = await claim();
      if (run.taskName === task) return run;
      await finish(run.id);
    }
    throw new Error(`no queued run of ${task}`);
  };

  before(async () => {
    berth = await startBerth({ env: { BERTH_LOCAL_AGENT: 'false', BERTH_AGENT_KEY: agentKey } });
    client = new OciClient(berth.url);
  });
  after(async () => {
    await berth?.stop();
  });

  it('a new digest queues one run; the same digest again, a tag delete and a manifest delete queue nothing; a burst folds into the waiting run', async () => {
    const base = `${berth.host}/base/app:latest`;
    const first = await client.pushImage('base/app', 'latest');
    await createWatcher('watcher-one', [base]);
    await createWatcher('unrelated', [`${berth.host}/base/other:latest`]);

    const second = await client.pushImage('base/app', 'latest');
    const [run] = await waitFor(async () => {
      const runs = await runsOf('watcher-one');
      return runs.length > 0 ? runs : null;
    }, { what: 'the push to queue a run', timeoutMs: 30_000 });
    assert.equal(run!.trigger, 'Image Update');
    assert.deepEqual(run!.imageUpdateTrigger!.images, [{ registry: berth.host, repository: 'base/app', tag: 'latest', digest: second.digest, previousDigest: first.digest }]);

    // The same digest again (a re-push), a push by digest, and deletions: nothing.
    await client.pushManifest('base/app', 'latest', second.manifest);
    await client.pushManifest('base/app', second.digest, second.manifest);
    const other = await client.pushImage('base/app', 'other-tag');
    const tagDelete = await client.request('DELETE', '/v2/base/app/manifests/other-tag');
    assert.equal(tagDelete.status, 202);
    const manifestDelete = await client.request('DELETE', `/v2/base/app/manifests/${other.digest}`);
    assert.equal(manifestDelete.status, 202);
    await settle();
    assert.equal((await runsOf('watcher-one')).length, 1, 'one run only');
    assert.equal((await runsOf('unrelated')).length, 0);

    // Three pushes while the run still waits: still one run, now for the newest digest.
    let newest = '';
    for (let i = 0; i < 3; i++) newest = (await client.pushImage('base/app', 'latest')).digest;
    await settle();
    const runs = await runsOf('watcher-one');
    assert.equal(runs.length, 1, 'the burst folded into the waiting run');
    assert.equal(runs[0]!.imageUpdateTrigger!.images[0]!.digest, newest);

    // Once it runs, a newer digest queues exactly one more; pushes after that fold into it.
    const running = await claimRunOf('watcher-one');
    assert.equal(running.id, runs[0]!.id);
    await client.pushImage('base/app', 'latest');
    await client.pushImage('base/app', 'latest');
    await settle();
    const after = await runsOf('watcher-one');
    assert.equal(after.length, 2, `one more run (${after.map((r) => `${r.id}:${r.status}`).join(', ')})`);
    assert.deepEqual(after.map((r) => r.status).sort(), ['Queued', 'Running']);
    await finish(running.id);
  });

  it('finds dependents through the index: of 100 tasks, exactly the 5 that depend on the pushed image run', async () => {
    await Promise.all(
      Array.from({ length: 95 }, (_, i) => createWatcher(`other-${i}`, [`${berth.host}/fleet/base-${i % 10}:latest`, 'docker.io/library/alpine:3'], { baseImageTriggerEnabled: i % 2 === 0 })),
    );
    for (let i = 0; i < 5; i++) await createWatcher(`dependent-${i}`, [`${berth.host}/fleet/shared:1`]);
    await createWatcher('switched-off', [`${berth.host}/fleet/shared:1`], { baseImageTriggerEnabled: false });
    await client.pushImage('fleet/shared', '1');
    await settle();
    const all = (await call<RunView[]>('GET', '/api/v1/runs?top=1000')).body;
    const fired = all.filter((r) => r.trigger === 'Image Update' && r.imageUpdateTrigger?.images[0]?.repository === 'fleet/shared').map((r) => r.taskName).sort();
    assert.deepEqual(fired, ['dependent-0', 'dependent-1', 'dependent-2', 'dependent-3', 'dependent-4']);
    const shown = (await call<{ triggerKinds: string[]; baseImages: Array<{ repository: string; dependency: string }> }>('GET', '/api/v1/tasks/dependent-0')).body;
    assert.deepEqual(shown.triggerKinds, ['BASE_IMAGE']);
    assert.deepEqual(shown.baseImages.map((b) => [b.repository, b.dependency]), [['fleet/shared', 'watch']]);
  });

  it('a chain fires in turn, and a cycle stops where it closes (a task never fires again from its own chain)', async () => {
    // cycle-a watches cyc/x and (as its build would) pushes cyc/y; cycle-b watches cyc/y and pushes cyc/x.
    await createWatcher('cycle-a', [`${berth.host}/cyc/x:latest`]);
    await createWatcher('cycle-b', [`${berth.host}/cyc/y:latest`]);
    await settle();
    while ((await agentCall('POST', '/claim', { platforms: ['linux/amd64'] })).status === 200) {
      // drain what earlier tests left queued
    }
    await client.pushImage('cyc/x', 'latest');
    const runA = await waitFor(async () => (await runsOf('cycle-a'))[0] ?? null, { what: 'cycle-a to fire', timeoutMs: 30_000 });
    assert.equal((await claim()).id, runA.id);
    const loginA = (await agentCall<{ login: { username: string; password: string } }>('POST', `/runs/${runA.id}/login`, { pushRepositories: ['cyc/y'] })).body.login;
    await new OciClient(berth.url, loginA).pushImage('cyc/y', 'latest');
    const runB = await waitFor(async () => (await runsOf('cycle-b'))[0] ?? null, { what: 'cycle-b to fire from cycle-a\'s push', timeoutMs: 30_000 });
    assert.deepEqual((await call<RunView>('GET', `/api/v1/runs/${runB.id}`)).body.triggerChain, ['cycle-a', 'cycle-b']);
    await finish(runA.id);
    assert.equal((await claim()).id, runB.id);
    const loginB = (await agentCall<{ login: { username: string; password: string } }>('POST', `/runs/${runB.id}/login`, { pushRepositories: ['cyc/x'] })).body.login;
    await new OciClient(berth.url, loginB).pushImage('cyc/x', 'latest');
    await finish(runB.id);
    await settle();
    assert.equal((await runsOf('cycle-a')).length, 1, 'the push that closes the cycle fired nothing');
    assert.match(berth.stdout(), /already in this chain/);
    // A person's push to the same image fires it again: only the chain is cut.
    await client.pushImage('cyc/x', 'latest');
    await waitFor(async () => (await runsOf('cycle-a')).length === 2, { what: 'a person\'s push to fire cycle-a again', timeoutMs: 30_000 });
  });

  it('the new-tag trigger: a newer tag matching the policy runs the task with the new reference; older or non-matching tags do not', async () => {
    await client.pushImage('runtime/node', '15.1.0');
    await createWatcher('node-follower', [`${berth.host}/runtime/node:15.1.0`], { baseImageTagPolicies: { [`${berth.host}/runtime/node`]: 'semver:>=15 <16' } });
    const refused = await call('PATCH', '/api/v1/tasks/node-follower', { baseImageTagPolicies: { '*': 'glob:15*' } });
    assert.equal(refused.status, 400);
    for (const tag of ['16.0.0', '15.0.9', 'latest', '15.1.0-rc.1']) await client.pushImage('runtime/node', tag);
    await settle();
    assert.equal((await runsOf('node-follower')).length, 0, 'not newer, or outside the range');
    const newer = await client.pushImage('runtime/node', '15.2.0');
    const run = await waitFor(async () => (await runsOf('node-follower'))[0] ?? null, { what: 'the new tag to fire the task', timeoutMs: 30_000 });
    assert.equal(run.trigger, 'Image Update');
    assert.deepEqual(run.imageUpdateTrigger!.images, [{ registry: berth.host, repository: 'runtime/node', tag: '15.2.0', digest: newer.digest, previousDigest: null }]);
  });
});
