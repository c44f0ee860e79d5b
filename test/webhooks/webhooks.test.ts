import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { adminCredentials, startBerth, tempDir, type BerthProcess } from '../helpers/berth-process.js';
import { OciClient } from '../helpers/oci-client.js';
import { api } from '../helpers/management.js';
import { Receiver } from '../helpers/receiver.js';
import { pause, waitFor } from '../helpers/wait.js';

let berth: BerthProcess;
let client: OciClient;
const receivers: Receiver[] = [];

async function receiver(): Promise<Receiver> {
  const r = new Receiver();
  await r.start();
  receivers.push(r);
  return r;
}

async function createWebhook(name: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
  const res = await api<Record<string, unknown>>(berth.url, adminCredentials, 'POST', '/api/v1/webhooks', { name, ...body });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body;
}

/** A window in which no further event may arrive (the point of the check that follows). */
const quietPeriod = (ms: number, what: string) => pause(ms, `no ${what} within ${ms} ms`);

interface DeliveryView {
  status: string;
  attempts: number;
  error: string;
  eventResponseMessage: { statusCode: number; content: string } | null;
}
const deliveries = async (server: BerthProcess, webhook: string) =>
  (await api<DeliveryView[]>(server.url, adminCredentials, 'GET', `/api/v1/webhooks/${webhook}/events`)).body;

before(async () => {
  berth = await startBerth({ env: { BERTH_WEBHOOK_BACKOFF_MS: '200' } });
  client = new OciClient(berth.url);
});
after(async () => {
  await berth?.stop();
  for (const r of receivers) await r.stop();
});

/** A test's own receiver or server, stopped after it however it ends. */
function stopAfter(t: { after(fn: () => unknown): void }, thing: { stop(): Promise<unknown> }): void {
  t.after(() => thing.stop());
}

describe('webhook payloads (ACR format)', () => {
  it('push: ACR payload, application/json, no headers added', async () => {
    const r = await receiver();
    await createWebhook('pushhook', { uri: r.url, actions: ['push'], scope: 'payload/app:*' });
    const image = await client.pushImage('payload/app', 'v1');
    const [event] = await r.waitFor(1);
    assert.equal(event!.method, 'POST');
    assert.equal(event!.headers['content-type'], 'application/json');
    const extra = Object.keys(event!.headers).filter((h) => !['content-type', 'content-length', 'host', 'connection'].includes(h));
    assert.deepEqual(extra, [], 'no other headers');
    const payload = event!.json;
    assert.deepEqual(Object.keys(payload).sort(), ['action', 'id', 'request', 'target', 'timestamp']);
    assert.equal(payload.action, 'push');
    assert.match(payload.id, /^[0-9a-f-]{36}$/);
    assert.ok(!Number.isNaN(Date.parse(payload.timestamp)));
    assert.deepEqual(payload.target, {
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      size: image.size,
      digest: image.digest,
      length: image.size,
      repository: 'payload/app',
      tag: 'v1',
    });
    assert.equal(payload.request.method, 'PUT');
    assert.equal(payload.request.host, berth.host);
    assert.match(payload.request.id, /^[0-9a-f-]{36}$/);
    assert.equal(typeof payload.request.useragent, 'string');
  });

  it('delete: a manifest delete fires, a tag delete does not (as in ACR)', async () => {
    const r = await receiver();
    await createWebhook('deletehook', { uri: r.url, actions: ['delete'], scope: 'payload/del:*' });
    const image = await client.pushImage('payload/del', 'v1');
    await client.pushManifest('payload/del', 'v2', image.manifest);
    assert.equal((await client.request('DELETE', '/v2/payload/del/manifests/v2')).status, 202);
    assert.equal((await client.request('DELETE', `/v2/payload/del/manifests/${image.digest}`)).status, 202);
    const [event] = await r.waitFor(1);
    await quietPeriod(500, 'event for the tag delete');
    assert.equal(r.received.length, 1, 'only the manifest delete');
    assert.equal(event!.json.action, 'delete');
    assert.deepEqual(event!.json.target, { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: image.digest, repository: 'payload/del' });
    assert.equal(event!.json.request.method, 'DELETE');
  });

  it('scopes: repo:tag exact, repo:* all tags, bare repo = repo:latest, empty = everything', async () => {
    const exact = await receiver();
    const all = await receiver();
    const bare = await receiver();
    const everything = await receiver();
    await createWebhook('scopeexact', { uri: exact.url, actions: ['push'], scope: 'scoped/app:v1' });
    await createWebhook('scopeall', { uri: all.url, actions: ['push'], scope: 'scoped/app:*' });
    await createWebhook('scopebare', { uri: bare.url, actions: ['push'], scope: 'scoped/app' });
    await createWebhook('scopeempty', { uri: everything.url, actions: ['push'] });
    const shown = await api<{ scope: string }>(berth.url, adminCredentials, 'GET', '/api/v1/webhooks/scopebare');
    assert.equal(shown.body.scope, 'scoped/app:latest');
    const image = await client.pushImage('scoped/app', 'v1');
    await client.pushManifest('scoped/app', 'latest', image.manifest);
    await client.pushManifest('scoped/app', 'v2', image.manifest);
    await client.pushImage('scoped/other', 'v1');
    await all.waitFor(3);
    await everything.waitFor(4);
    await exact.waitFor(1);
    await bare.waitFor(1);
    await quietPeriod(500, 'further event for the narrower scopes');
    assert.deepEqual(exact.received.map((e) => e.json.target.tag), ['v1']);
    assert.deepEqual(all.received.map((e) => e.json.target.tag), ['v1', 'latest', 'v2']);
    assert.deepEqual(bare.received.map((e) => e.json.target.tag), ['latest']);
    assert.equal(everything.received.filter((e) => e.json.target.repository === 'scoped/other').length, 1);
  });

  it('custom headers, HMAC signature and CloudEvents format', async () => {
    const r = await receiver();
    const created = await createWebhook('signedce', {
      uri: r.url,
      actions: ['push'],
      scope: 'ce/app:*',
      headers: { Authorization: 'Basic c2VjcmV0', 'X-Team': 'platform' },
      format: 'cloudevents',
      signed: true,
    });
    const secret = created.signingSecret as string;
    assert.ok(secret);
    const image = await client.pushImage('ce/app', 'v3');
    const [event] = await r.waitFor(1);
    assert.equal(event!.headers['content-type'], 'application/cloudevents+json');
    assert.equal(event!.headers.authorization, 'Basic c2VjcmV0');
    assert.equal(event!.headers['x-team'], 'platform');
    const expected = `sha256=${createHmac('sha256', secret).update(event!.body).digest('hex')}`;
    assert.equal(event!.headers['x-berth-signature-256'], expected);
    assert.equal(event!.json.specversion, '1.0');
    assert.equal(event!.json.type, 'Microsoft.ContainerRegistry.ImagePushed');
    assert.equal(event!.json.subject, 'ce/app:v3');
    assert.equal(event!.json.data.target.digest, image.digest);
    const shown = await api<Record<string, unknown>>(berth.url, adminCredentials, 'GET', '/api/v1/webhooks/signedce');
    assert.equal(shown.body.signingSecret, undefined, 'the secret is shown only at creation');
    assert.equal(shown.body.serviceUri, undefined, 'show omits the URI, as ARM does');
    const config = await api<{ serviceUri: string; customHeaders: Record<string, string> }>(berth.url, adminCredentials, 'GET', '/api/v1/webhooks/signedce/config');
    assert.equal(config.body.serviceUri, r.url);
    assert.equal(config.body.customHeaders['X-Team'], 'platform');
  });
});

describe('delivery', () => {
  it('a failing receiver gets retries with backoff and then every event, in order', async () => {
    const r = await receiver();
    r.status = 503;
    await createWebhook('flaky', { uri: r.url, actions: ['push'], scope: 'flaky/app:*' });
    for (const tag of ['t1', 't2', 't3']) await client.pushImage('flaky/app', tag);
    // The oldest event (listed last) has been retried at least once against the failing receiver.
    const failing = await waitFor(
      async () => {
        const list = await deliveries(berth, 'flaky');
        return list.length > 0 && list[list.length - 1]!.attempts >= 2 ? list : null;
      },
      { what: 'a second delivery attempt of the first flaky event', detail: async () => JSON.stringify(await deliveries(berth, 'flaky')) },
    );
    assert.equal(r.received.length, 0);
    const head = failing[failing.length - 1]!;
    assert.equal(head.status, 'pending');
    assert.ok(head.attempts >= 2, `retried (${head.attempts} attempts)`);
    assert.equal(head.eventResponseMessage?.statusCode, 503);
    r.status = 200;
    const events = await r.waitFor(3);
    assert.deepEqual(events.map((e) => e.json.target.tag), ['t1', 't2', 't3']);
    // The receiver has them; the server records each delivery once the answer is in.
    const log = await waitFor(
      async () => {
        const list = await deliveries(berth, 'flaky');
        return list.every((e) => e.status === 'delivered') ? list : null;
      },
      { what: 'every flaky event to be recorded as delivered', detail: async () => JSON.stringify(await deliveries(berth, 'flaky')) },
    );
    assert.ok(log.every((e) => e.status === 'delivered'));
    assert.equal(log[0]!.eventResponseMessage!.statusCode, 200);
    assert.equal(log[0]!.eventResponseMessage!.content, 'thanks');
  });

  it('ping is delivered at once and shows in list-events with masked sensitive headers', async () => {
    const r = await receiver();
    await createWebhook('pinghook', { uri: r.url, actions: ['push'], headers: { Authorization: 'Bearer very-secret', 'X-Plain': 'visible' } });
    const ping = await api<{ id: string; status: string; statusCode: number }>(berth.url, adminCredentials, 'POST', '/api/v1/webhooks/pinghook/ping');
    assert.equal(ping.body.status, 'delivered');
    assert.equal(ping.body.statusCode, 200);
    assert.equal(r.received[0]!.json.action, 'ping');
    const events = await api<Array<Record<string, any>>>(berth.url, adminCredentials, 'GET', '/api/v1/webhooks/pinghook/events');
    const entry = events.body.find((e) => e.id === ping.body.id)!;
    assert.equal(entry.eventRequestMessage.method, 'POST');
    assert.equal(entry.eventRequestMessage.requestUri, r.url);
    assert.equal(entry.eventRequestMessage.headers.Authorization, '******');
    assert.equal(entry.eventRequestMessage.headers['X-Plain'], 'visible');
    assert.equal(entry.eventRequestMessage.content.action, 'ping');
    assert.equal(entry.eventResponseMessage.statusCode, 200);
    assert.ok(!JSON.stringify(events.body).includes('very-secret'));
  });

  it('bad webhook input is refused clearly', async () => {
    for (const [body, status] of [
      [{ name: 'badactions', uri: 'http://127.0.0.1:1/x', actions: ['explode'] }, 400],
      [{ name: 'baduri', uri: 'ftp://example.invalid/x', actions: ['push'] }, 400],
      [{ name: 'bad', uri: 'http://127.0.0.1:1/x', actions: ['push'] }, 400],
      [{ name: 'pushhook', uri: 'http://127.0.0.1:1/x', actions: ['push'] }, 409],
    ] as const) {
      const res = await api<{ errors: Array<{ message: string }> }>(berth.url, adminCredentials, 'POST', '/api/v1/webhooks', body);
      assert.equal(res.status, status, JSON.stringify(body));
    }
  });
});

describe('durability', () => {
  it('a receiver that is down gets every event after a server restart; pushes never wait for it', async (t) => {
    const dataDir = tempDir('webhook-restart');
    const env = { BERTH_WEBHOOK_BACKOFF_MS: '200' };
    let server = await startBerth({ dataDir, env, t });
    const r = new Receiver();
    stopAfter(t, r);
    await r.start();
    const port = r.port;
    await r.stop(); // down: connection refused
    await api(server.url, adminCredentials, 'POST', '/api/v1/webhooks', { name: 'durable', uri: `http://127.0.0.1:${port}/hook`, actions: ['push', 'delete'] });
    const pushing = new OciClient(server.url);
    const first = await pushing.pushImage('durable/app', 'a');
    await pushing.pushImage('durable/app', 'b');
    assert.equal((await pushing.request('DELETE', `/v2/durable/app/manifests/${first.digest}`)).status, 202);
    // All three recorded, and the oldest (listed last) already tried against the dead receiver.
    const pending = await waitFor(
      async () => {
        const list = await deliveries(server, 'durable');
        return list.length >= 3 && list[2]!.error ? list : null;
      },
      { what: 'three pending events, the first one tried', detail: async () => JSON.stringify(await deliveries(server, 'durable')) },
    );
    assert.equal(pending.length, 3);
    assert.ok(pending.every((e) => e.status === 'pending'));
    assert.equal(pending[2]!.error, 'ECONNREFUSED');
    assert.equal(await server.stop(), 0);

    await r.start(port);
    server = await startBerth({ dataDir, env, t });
    const events = await r.waitFor(3);
    assert.deepEqual(events.map((e) => `${e.json.action}:${e.json.target.tag ?? e.json.target.digest}`), ['push:a', 'push:b', `delete:${first.digest}`]);
    await server.stop();
  });
});

describe('two servers on one database', () => {
  it('each event is delivered once, in order, whichever server took the push', async (t) => {
    const dataDir = tempDir('webhook-two-servers');
    const env = { BERTH_WEBHOOK_BACKOFF_MS: '200' };
    const a = await startBerth({ dataDir, env, t });
    const b = await startBerth({ dataDir, env, t });
    const r = new Receiver();
    stopAfter(t, r);
    await r.start();
    await api(a.url, adminCredentials, 'POST', '/api/v1/webhooks', { name: 'shared', uri: r.url, actions: ['push'] });
    // The webhook list is cached per server for a moment: wait until b's pushes are delivered too.
    const clients = [new OciClient(a.url), new OciClient(b.url)];
    await waitFor(
      async () => {
        await clients[1]!.pushImage('shared/probe', `p${Date.now()}`);
        return r.received.some((e) => e.json.target.repository === 'shared/probe');
      },
      { what: 'a push through the second server to be delivered', intervalMs: 500 },
    );
    const tags = Array.from({ length: 12 }, (_, i) => `t${i}`);
    for (const [i, tag] of tags.entries()) await clients[i % 2]!.pushImage('shared/app', tag);
    const app = () => r.received.filter((e) => e.json.target.repository === 'shared/app');
    await waitFor(() => app().length >= tags.length, { what: `${tags.length} events`, detail: () => JSON.stringify(app().map((e) => e.json.target.tag)) });
    await quietPeriod(1500, 'duplicate event');
    assert.deepEqual(app().map((e) => e.json.target.tag), tags);
  });
});

describe('audit of content changes', () => {
  it('push, tag move and delete are queryable by repository and time', async () => {
    const since = new Date().toISOString();
    const one = await client.pushImage('audited/app', 'latest');
    const two = await client.pushImage('audited/app', 'latest');
    await client.request('DELETE', `/v2/audited/app/manifests/${one.digest}`);
    type AuditEntry = { kind: string; actor: string; target: string; detail: Record<string, unknown> };
    const audit = async () => (await api<AuditEntry[]>(berth.url, adminCredentials, 'GET', `/api/v1/audit?target=audited/app&since=${encodeURIComponent(since)}`)).body;
    // The audit trail is written as the events go through: wait for all four entries.
    const body = await waitFor(async () => {
      const entries = await audit();
      return entries.length >= 4 ? entries : null;
    }, { what: 'four audit entries for audited/app', detail: async () => JSON.stringify(await audit()) });
    const res = { body };
    const kinds = res.body.map((e) => e.kind).reverse();
    assert.deepEqual(kinds, ['image.pushed', 'image.pushed', 'tag.moved', 'image.deleted']);
    const moved = res.body.find((e) => e.kind === 'tag.moved')!;
    assert.deepEqual(moved.detail, { tag: 'latest', from: one.digest, to: two.digest });
    assert.ok(res.body.every((e) => e.actor === 'admin'));
  });
});
