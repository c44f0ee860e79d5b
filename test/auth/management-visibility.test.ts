import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { adminCredentials, startBerth, type BerthProcess } from '../helpers/berth-process.js';
import { OciClient, type Credentials } from '../helpers/oci-client.js';
import { api, tokenPassword, type CreatedToken } from '../helpers/management.js';

interface Job {
  id: string;
  status: string;
  error: string | null;
  requestedBy: { kind: string; name: string };
}
type Envelope = { errors: Array<{ code: string; message: string }> };

let berth: BerthProcess;
const who: Record<string, Credentials> = {};
const jobs: Record<string, Job> = {};

async function token(name: string, repository: string, actions: string[]): Promise<void> {
  const created = await api<CreatedToken>(berth.url, adminCredentials, 'POST', '/api/v1/tokens', { name, rules: [{ repository, actions }] });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  who[name] = { username: name, password: tokenPassword(created.body) };
}

async function user(name: string, role: string): Promise<void> {
  const created = await api(berth.url, adminCredentials, 'POST', '/api/v1/users', { name, password: `${name}-password`, roles: [role] });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  who[name] = { username: name, password: `${name}-password` };
}

/** Imports (from this registry: mounted, no network) as `as`, and waits with the same identity. */
async function importAs(as: string, source: string, targetTags: string[]): Promise<Job> {
  const submitted = await api<Job>(berth.url, who[as]!, 'POST', '/api/v1/imports', { source: `${berth.host}/${source}`, targetTags });
  assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
  const deadline = Date.now() + 30_000;
  for (;;) {
    const { body } = await api<Job>(berth.url, who[as]!, 'GET', `/api/v1/imports/${submitted.body.id}`);
    if (body.status === 'succeeded' || body.status === 'failed') return body;
    if (Date.now() > deadline) throw new Error(`import ${body.id} still ${body.status}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function visibleTo(name: string): Promise<string[]> {
  const listed = await api<Job[]>(berth.url, name === 'admin' ? adminCredentials : who[name]!, 'GET', '/api/v1/imports?top=1000');
  assert.equal(listed.status, 200, JSON.stringify(listed.body));
  return Object.entries(jobs)
    .filter(([, job]) => listed.body.some((j) => j.id === job.id))
    .map(([label]) => label)
    .sort();
}

before(async () => {
  berth = await startBerth();
  const admin = new OciClient(berth.url);
  await admin.pushImage('team-a/base', 'v1');
  await admin.pushImage('team-b/base', 'v1');
  await token('team-a-pusher', 'team-a/*', ['content/read', 'content/write']);
  await token('team-b-pusher', 'team-b/*', ['content/read', 'content/write']);
  await token('team-a-reader', 'team-a/*', ['content/read']);
  await token('other-reader', 'other/*', ['content/read']);
  await user('pusher', 'AcrPush');
  await user('puller', 'AcrPull');
  await user('deleter', 'AcrDelete');
  jobs.a = await importAs('team-a-pusher', 'team-a/base:v1', ['team-a/app:v1']);
  jobs.b = await importAs('team-b-pusher', 'team-b/base:v1', ['team-b/app:v1']);
  jobs.both = await importAs('pusher', 'team-a/base:v1', ['team-a/shared:v1', 'team-b/shared:v1']);
  for (const job of Object.values(jobs)) assert.equal(job.status, 'succeeded', job.error ?? '');
});
after(async () => {
  await berth.stop();
});

describe('import jobs are visible to their requester, Owners and readers of all their targets', () => {
  it('each identity lists exactly the jobs it may see', async () => {
    assert.deepEqual(await visibleTo('admin'), ['a', 'b', 'both']);
    assert.deepEqual(await visibleTo('team-a-pusher'), ['a'], 'its own; "both" also targets team-b');
    assert.deepEqual(await visibleTo('team-b-pusher'), ['b']);
    assert.deepEqual(await visibleTo('team-a-reader'), ['a'], 'a pull-only token sees what it may read entirely');
    assert.deepEqual(await visibleTo('other-reader'), [], 'a pull-only token elsewhere sees nothing');
    assert.deepEqual(await visibleTo('deleter'), [], 'a user who may not pull sees nothing');
    assert.deepEqual(await visibleTo('pusher'), ['a', 'b', 'both'], 'AcrPush reads every repository');
    assert.deepEqual(await visibleTo('puller'), ['a', 'b', 'both'], 'AcrPull reads every repository');
  });

  it('a job another identity may not see is 404 by id, in the error envelope', async () => {
    for (const [name, label] of [['team-b-pusher', 'a'], ['other-reader', 'a'], ['other-reader', 'b'], ['deleter', 'both'], ['team-a-reader', 'both']] as const) {
      const res = await api<Envelope>(berth.url, who[name]!, 'GET', `/api/v1/imports/${jobs[label]!.id}`);
      assert.equal(res.status, 404, `${name} → ${label}`);
      assert.equal(res.body.errors[0]!.code, 'NOT_FOUND');
      assert.ok(!JSON.stringify(res.body).includes(label === 'b' ? 'team-b' : 'team-a/shared'), 'nothing of the job shows');
    }
    for (const [name, label] of [['team-a-pusher', 'a'], ['team-a-reader', 'a'], ['pusher', 'both']] as const) {
      const res = await api<Job>(berth.url, who[name]!, 'GET', `/api/v1/imports/${jobs[label]!.id}`);
      assert.equal(res.status, 200, `${name} → ${label}`);
      assert.equal(res.body.id, jobs[label]!.id);
    }
    const admin = await api<Job>(berth.url, adminCredentials, 'GET', `/api/v1/imports/${jobs.b!.id}`);
    assert.equal(admin.status, 200);
    assert.deepEqual(admin.body.requestedBy, { kind: 'token', name: 'team-b-pusher' });
  });

  it('top counts visible jobs, not jobs skipped', async () => {
    const listed = await api<Job[]>(berth.url, who['team-a-pusher']!, 'GET', '/api/v1/imports?top=1');
    assert.deepEqual(listed.body.map((j) => j.id), [jobs.a!.id], 'the newer jobs it may not see do not use up the page');
  });
});

describe('every other management endpoint needs the Owner role', () => {
  it('non-Owners get 403 DENIED and anonymous callers 401 on every route of the OpenAPI document but imports and next-version tags', async () => {
    const doc = await api<{ paths: Record<string, Record<string, unknown>> }>(berth.url, null, 'GET', '/api/v1/openapi.json');
    assert.equal(doc.status, 200);
    const sample: Record<string, string> = { name: 'probe1', id: 'x1', server: 'probe.example', password: 'password1' };
    const routes = Object.entries(doc.body.paths).flatMap(([path, methods]) =>
      Object.keys(methods)
        .filter((m) => ['get', 'post', 'put', 'patch', 'delete'].includes(m))
        .map((method) => ({ method: method.toUpperCase(), path: path.replace(/\{(\w+)\}/g, (_, p: string) => sample[p] ?? 'x') })),
    );
    assert.ok(routes.length > 40, `the document lists the routes (${routes.length})`);
    // Imports and next-version tags check rights on the repositories their body names (test/tasks/next-version.test.ts);
    // push webhooks are signed with the task's secret instead of a login (test/triggers/source-trigger.test.ts).
    // Purge checks the delete right on every repository its filters select (test/lifecycle/purge.test.ts).
    // Soft-deleted content needs the push right on its repository (test/lifecycle/soft-delete.test.ts).
    const guarded = routes.filter((r) => !r.path.startsWith('/api/v1/imports') && !r.path.startsWith('/api/v1/deleted/') && !['/api/v1/next-version-tags', '/api/v1/purge'].includes(r.path) && !r.path.endsWith('/source-webhook'));
    for (const name of ['team-a-reader', 'other-reader', 'pusher', 'puller', 'deleter']) {
      for (const { method, path } of guarded) {
        const res = await api<Envelope>(berth.url, who[name]!, method, path, ['POST', 'PUT', 'PATCH'].includes(method) ? {} : undefined);
        assert.equal(res.status, 403, `${name}: ${method} ${path} → ${res.status} ${JSON.stringify(res.body)}`);
        assert.equal(res.body.errors[0]!.code, 'DENIED');
      }
    }
    for (const { method, path } of routes) {
      const res = await api<Envelope>(berth.url, null, method, path, ['POST', 'PUT', 'PATCH'].includes(method) ? {} : undefined);
      assert.equal(res.status, 401, `anonymous: ${method} ${path}`);
    }
  });
});
