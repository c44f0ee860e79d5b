import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { adminCredentials, startBerth, tempDir, type BerthProcess } from '../helpers/berth-process.js';
import { OciClient } from '../helpers/oci-client.js';
import { api } from '../helpers/management.js';
import { FakeRegistry } from '../helpers/fake-registry.js';
import { Receiver } from '../helpers/receiver.js';

interface Job {
  id: string;
  status: string;
  error: string | null;
  result: { digest: string } | null;
}
type Envelope = { errors: Array<{ code: string; message: string }> };

/** Denies the name `localhost` (a host rule, from the environment): it plays "a denied host" while every server listens on 127.0.0.1. */
let berth: BerthProcess;
/** Denies all of loopback by CIDR (from the YAML config file). */
let fenced: BerthProcess;
const stops: Array<() => Promise<unknown>> = [];

async function fake(): Promise<FakeRegistry> {
  const registry = new FakeRegistry();
  await registry.start();
  stops.push(() => registry.stop());
  return registry;
}

async function importJob(server: BerthProcess, source: string, target: string, extra: Record<string, unknown> = {}): Promise<Job> {
  const submitted = await api<Job>(server.url, adminCredentials, 'POST', '/api/v1/imports', { source, targetTags: [target], ...extra });
  assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
  const deadline = Date.now() + 60_000;
  for (;;) {
    const { body } = await api<Job>(server.url, adminCredentials, 'GET', `/api/v1/imports/${submitted.body.id}`);
    if (body.status === 'succeeded' || body.status === 'failed') return body;
    if (Date.now() > deadline) throw new Error(`import ${submitted.body.id} still ${body.status}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

before(async () => {
  const dir = tempDir('egress-config');
  writeFileSync(join(dir, 'berth.yaml'), 'egress:\n  deny:\n    - 127.0.0.0/8\n    - ::1\n');
  [berth, fenced] = await Promise.all([
    startBerth({ env: { BERTH_EGRESS_DENY: 'localhost' } }),
    startBerth({ args: ['--config', join(dir, 'berth.yaml')] }),
  ]);
});
after(async () => {
  for (const stop of stops) await stop();
  await berth.stop();
  await fenced.stop();
});

describe('import redirects', () => {
  it('a blob redirected to another origin is fetched there without the credentials; same-origin redirects keep them', async () => {
    const registry = await fake();
    const blobHost = await fake();
    for (const [digest, bytes] of registry.blobs) blobHost.blobs.set(digest, bytes);
    registry.basic = { username: 'puller', password: 'pull-secret' };
    registry.override = (req, res) => {
      const blob = /^\/v2\/lib\/app\/blobs\/(sha256:[0-9a-f]+)$/.exec(req.url ?? '');
      if (blob && req.headers.authorization) {
        res.writeHead(307, { Location: `${blobHost.url}/storage/${blob[1]}` }).end();
        return true;
      }
      if (req.url === '/v2/lib/app/manifests/v1') {
        res.writeHead(302, { Location: '/v2/lib/app/manifests/v1?moved=1' }).end();
        return true;
      }
      return false;
    };
    const job = await importJob(berth, `${registry.host}/lib/app:v1`, 'egress/cdn:v1', { username: 'puller', password: 'pull-secret' });
    assert.equal(job.status, 'succeeded', job.error ?? '');
    assert.equal(job.result?.digest, registry.manifestDigest);
    const head = await new OciClient(berth.url).request('HEAD', '/v2/egress/cdn/manifests/v1');
    assert.equal(head.headers.get('docker-content-digest'), registry.manifestDigest);

    assert.ok(registry.seen('/v2/lib/app/manifests/v1?moved=1').some((r) => r.authorization?.startsWith('Basic ')), 'a same-origin redirect keeps the credentials');
    const stored = blobHost.seen('/storage/');
    assert.equal(new Set(stored.map((r) => r.url)).size, 2, 'config and layer came from the blob host');
    assert.ok(stored.every((r) => r.authorization === undefined), `no Authorization at the blob host: ${JSON.stringify(stored)}`);
    assert.ok(stored.every((r) => r.range?.startsWith('bytes=')), 'the Range header goes along');
  });

  it("the blob host cannot ask for the source's credentials: its challenge is not answered", async () => {
    const registry = await fake();
    const blobHost = await fake();
    const tokenServer = await fake();
    registry.basic = { username: 'puller', password: 'pull-secret' };
    registry.override = (req, res) => {
      const blob = /^\/v2\/lib\/app\/blobs\/(sha256:[0-9a-f]+)$/.exec(req.url ?? '');
      if (!blob || !req.headers.authorization) return false;
      res.writeHead(307, { Location: `${blobHost.url}/storage/${blob[1]}` }).end();
      return true;
    };
    blobHost.override = (_req, res) => {
      res.writeHead(401, { 'WWW-Authenticate': `Bearer realm="${tokenServer.url}/token"` }).end();
      return true;
    };
    const job = await importJob(berth, `${registry.host}/lib/app:v1`, 'egress/cdn-challenge:v1', { username: 'puller', password: 'pull-secret' });
    assert.equal(job.status, 'failed');
    assert.match(job.error ?? '', /denied access .*401/);
    assert.ok(blobHost.requests.length > 0, 'the blob host was asked');
    assert.deepEqual(tokenServer.requests, [], 'the credentials never went to a realm the blob host named');
  });

  it('a manifest redirected to another origin is refused, and that origin is never asked', async () => {
    const registry = await fake();
    const elsewhere = await fake();
    registry.override = (req, res) => {
      if (!(req.url ?? '').startsWith('/v2/lib/app/manifests/')) return false;
      res.writeHead(302, { Location: `${elsewhere.url}${req.url}` }).end();
      return true;
    };
    const job = await importJob(berth, `${registry.host}/lib/app:v1`, 'egress/manifest-redirect:v1');
    assert.equal(job.status, 'failed');
    assert.match(job.error ?? '', /redirected to another origin/);
    assert.deepEqual(elsewhere.requests, []);
  });

  it('redirects are limited (5), and a refused download is not retried', async () => {
    const registry = await fake();
    registry.override = (req, res) => {
      if (!(req.url ?? '').startsWith('/v2/lib/app/blobs/')) return false;
      res.writeHead(302, { Location: req.url! }).end();
      return true;
    };
    const job = await importJob(berth, `${registry.host}/lib/app:v1`, 'egress/loop:v1');
    assert.equal(job.status, 'failed');
    assert.match(job.error ?? '', /more than 5 redirects/);
    assert.equal(registry.seen('/v2/lib/app/blobs/').length, 6, 'the first request and 5 redirects, once');
  });

  it('a redirect to a denied host is not followed: the blob host is never contacted', async () => {
    const registry = await fake();
    const blobHost = await fake();
    registry.override = (req, res) => {
      const blob = /^\/v2\/lib\/app\/blobs\/(sha256:[0-9a-f]+)$/.exec(req.url ?? '');
      if (!blob) return false;
      res.writeHead(307, { Location: `http://localhost:${blobHost.port}/storage/${blob[1]}` }).end();
      return true;
    };
    const job = await importJob(berth, `${registry.host}/lib/app:v1`, 'egress/denied-cdn:v1');
    assert.equal(job.status, 'failed');
    assert.match(job.error ?? '', /localhost is refused by the egress policy \(matches localhost/);
    assert.deepEqual(blobHost.requests, []);
  });

  it('the token realm passes the policy too', async () => {
    const registry = await fake();
    const tokenServer = await fake();
    registry.override = (req, res) => {
      if (req.headers.authorization) return false;
      res.writeHead(401, { 'WWW-Authenticate': `Bearer realm="http://localhost:${tokenServer.port}/token",service="fake"` }).end();
      return true;
    };
    const job = await importJob(berth, `${registry.host}/lib/app:v1`, 'egress/realm:v1', { username: 'puller', password: 'pull-secret' });
    assert.equal(job.status, 'failed');
    assert.match(job.error ?? '', /egress policy/);
    assert.deepEqual(tokenServer.requests, [], 'the credentials never went to the denied realm');
  });
});

describe('foreign bodies never reach the job', () => {
  it('error bodies, non-JSON manifests and non-JSON token answers are reported without their content', async () => {
    const marker = `MARKER-${randomBytes(6).toString('hex')}`;
    const tokenServer = await fake();
    tokenServer.override = (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html' }).end(`<html>${marker} internal dashboard</html>`);
      return true;
    };
    const cases: Array<{ name: string; answer: (res: import('node:http').ServerResponse) => void; expected: RegExp }> = [
      { name: 'text500', answer: (res) => res.writeHead(500, { 'Content-Type': 'text/plain' }).end(`${marker} stack trace`), expected: /answered 500 for manifest$/ },
      {
        name: 'envelope400',
        answer: (res) => res.writeHead(400, { 'Content-Type': 'application/json' }).end(JSON.stringify({ errors: [{ code: 'MANIFEST_INVALID', message: marker }] })),
        expected: /answered 400 MANIFEST_INVALID for manifest$/,
      },
      {
        name: 'foreigncode',
        answer: (res) => res.writeHead(400, { 'Content-Type': 'application/json' }).end(JSON.stringify({ errors: [{ code: marker }] })),
        expected: /answered 400 for manifest$/,
      },
      { name: 'html200', answer: (res) => res.writeHead(200, { 'Content-Type': 'text/html' }).end(`<html>${marker}</html>`), expected: /not valid JSON/ },
      {
        name: 'realm',
        answer: (res) => res.writeHead(401, { 'WWW-Authenticate': `Bearer realm="${tokenServer.url}/token"` }).end(marker),
        expected: /not JSON for token/,
      },
    ];
    for (const { name, answer, expected } of cases) {
      const registry = await fake();
      registry.override = (req, res) => {
        if (!(req.url ?? '').startsWith('/v2/lib/app/manifests/')) return false;
        answer(res);
        return true;
      };
      const job = await importJob(berth, `${registry.host}/lib/app:v1`, `egress/${name.toLowerCase()}:v1`);
      assert.equal(job.status, 'failed', name);
      assert.match(job.error ?? '', expected, name);
      const listed = await api(berth.url, adminCredentials, 'GET', '/api/v1/imports?top=1000');
      assert.ok(!JSON.stringify(listed.body).includes(marker), `${name}: the marker reached the job list`);
    }
    assert.ok(tokenServer.requests.length > 0, 'the realm case did reach its token server');
  });
});

describe('a server whose policy denies loopback (config file)', () => {
  it('refuses an import from a denied address at once, and one from a name that resolves to it when the job connects', async () => {
    const registry = await fake();
    const refused = await api<Envelope>(fenced.url, adminCredentials, 'POST', '/api/v1/imports', { source: `${registry.host}/lib/app:v1`, targetTags: ['fenced/app:v1'] });
    assert.equal(refused.status, 403);
    assert.equal(refused.body.errors[0]!.code, 'DENIED');
    assert.match(refused.body.errors[0]!.message, /127\.0\.0\.1 is refused by the egress policy \(matches 127\.0\.0\.0\/8/);
    // `localhost` is only resolved when the job connects: the address check happens there.
    const job = await importJob(fenced, `localhost:${registry.port}/lib/app:v1`, 'fenced/app:v1');
    assert.equal(job.status, 'failed');
    assert.match(job.error ?? '', /localhost \((127\.0\.0\.1|::1)\) is refused by the egress policy/);
    assert.deepEqual(registry.requests, [], 'the registry was never contacted');
  });

  it('refuses a webhook to a denied address at creation, and delivers nothing to a name resolving to one', async () => {
    const receiver = new Receiver();
    await receiver.start();
    stops.push(() => receiver.stop());
    const refused = await api<Envelope>(fenced.url, adminCredentials, 'POST', '/api/v1/webhooks', { name: 'fencedliteral', uri: receiver.url, actions: ['push'] });
    assert.equal(refused.status, 403);
    assert.equal(refused.body.errors[0]!.code, 'DENIED');
    assert.match(refused.body.errors[0]!.message, /egress policy/);

    const named = `http://localhost:${receiver.port}/hook`;
    const created = await api(fenced.url, adminCredentials, 'POST', '/api/v1/webhooks', { name: 'fencedname', uri: named, actions: ['push'] });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const ping = await api<{ status: string; statusCode: number | null }>(fenced.url, adminCredentials, 'POST', '/api/v1/webhooks/fencedname/ping');
    assert.equal(ping.body.status, 'failed');
    assert.equal(ping.body.statusCode, null);
    const events = await api<Array<{ error: string | null }>>(fenced.url, adminCredentials, 'GET', '/api/v1/webhooks/fencedname/events');
    assert.match(events.body[0]!.error ?? '', /is refused by the egress policy/);
    assert.deepEqual(receiver.received, []);
  });
});
