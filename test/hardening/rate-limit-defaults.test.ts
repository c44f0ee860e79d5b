import assert from 'node:assert/strict';
import { Agent } from 'node:http';
import { request as httpRequest } from 'node:http';
import { describe, it } from 'node:test';
import { adminCredentials, startBerth } from '../helpers/berth-process.js';
import { basicAuth, OciClient } from '../helpers/oci-client.js';
import { RequestRateLimits } from '../../src/auth/rate-limits.js';
import { resolveSettings } from '../../src/config/settings.js';

function head(agent: Agent, base: string, path: string, authorization: string | null): Promise<number> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ agent, host: url.hostname, port: url.port, path, method: 'HEAD', headers: authorization ? { Authorization: authorization } : {} }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('rate limits that do not throttle normal use', () => {
  it('by default one identity with 32 connections is never throttled, and can still push', async (t) => {
    // Empty means unset: the server's own defaults, not the test helper's "off".
    const berth = await startBerth({ env: { BERTH_RATE_LIMIT_RPS: '' } });
    const agent = new Agent({ keepAlive: true, maxSockets: 32 });
    t.after(async () => {
      agent.destroy();
      await berth.stop();
    });
    const client = new OciClient(berth.url);
    const blob = await client.pushBlob('busy/ci', 'a layer that is checked a lot');
    const auth = basicAuth(adminCredentials);
    const statuses = new Map<number, number>();
    let sent = 0;
    await Promise.all(Array.from({ length: 32 }, async () => {
      while (sent < 3000) {
        sent++;
        const status = await head(agent, berth.url, `/v2/busy/ci/blobs/${blob.digest}`, auth);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
      }
    }));
    assert.deepEqual([...statuses.keys()], [200], `statuses: ${JSON.stringify([...statuses])}`);
    await client.pushImage('busy/ci', 'after-the-burst');
  });

  it('anonymous callers are limited per address, signed-in ones from that address are not', async (t) => {
    const berth = await startBerth({ env: { BERTH_RATE_LIMIT_RPS: '', BERTH_ANONYMOUS_RATE_LIMIT_RPS: '1', BERTH_ANONYMOUS_RATE_LIMIT_BURST: '20' } });
    t.after(() => berth.stop());
    const anonymous = new OciClient(berth.url, null);
    const statuses: number[] = [];
    for (let i = 0; i < 25; i++) statuses.push((await anonymous.request('GET', '/v2/')).status);
    assert.ok(statuses.slice(0, 20).every((s) => s === 401), statuses.join(','));
    const limited = await anonymous.request('GET', '/v2/');
    assert.equal(limited.status, 429);
    assert.equal(((await limited.json()) as { errors: Array<{ code: string }> }).errors[0]!.code, 'TOOMANYREQUESTS');
    assert.ok(Number(limited.headers.get('retry-after')) >= 1);
    assert.equal((await new OciClient(berth.url).request('GET', '/v2/')).status, 200);
  });

  it("ACR's per-identity figures are an opt-in preset, counted per request category", () => {
    const limits = new RequestRateLimits({
      authenticated: { requestsPerSecond: 0, burst: 0 },
      anonymous: { requestsPerSecond: 0, burst: 0 },
      preset: 'acr-standard',
    });
    const caller = { anonymous: false as const, identity: 'user:ci' };
    let deletes = 0;
    while (limits.take(caller, 'DELETE') === 0 && deletes < 1000) deletes++;
    assert.equal(deletes, 500, 'DataplaneDelete: 500 per minute per identity');
    assert.equal(limits.take(caller, 'GET'), 0, 'reads have their own bucket');
    assert.equal(limits.take({ anonymous: false, identity: 'user:other' }, 'DELETE'), 0, 'another identity is not affected');
    const settings = resolveSettings({}, { BERTH_RATE_LIMIT_PRESET: 'acr-premium' });
    assert.equal(settings.rateLimit.preset, 'acr-premium');
    assert.throws(() => resolveSettings({}, { BERTH_RATE_LIMIT_PRESET: 'acr-gold' }), /invalid rate limit preset/);
    const defaults = resolveSettings({}, {});
    assert.equal(defaults.rateLimit.authenticated.requestsPerSecond, 0);
    assert.equal(defaults.rateLimit.preset, null);
    assert.ok(defaults.rateLimit.anonymous.requestsPerSecond > 0);
  });
});
