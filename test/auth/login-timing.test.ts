import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { adminCredentials, startBerth, type BerthProcess } from '../helpers/berth-process.js';
import { basicAuth, type Credentials } from '../helpers/oci-client.js';
import { api, tokenPassword, type CreatedToken } from '../helpers/management.js';

// A failed login must take as long for a name that does not exist as for one that does, or the
// response time tells an attacker which user and token names are worth guessing passwords for.

let berth: BerthProcess;
const user: Credentials = { username: 'timing-user', password: 'timing-user-password' };
let token: Credentials;
let disabledToken: Credentials;

/** Each way of logging in that checks a password. Returns the HTTP status. */
const endpoints: Record<string, (c: Credentials) => Promise<number>> = {
  'Basic on /v2/': async (c) => (await fetch(`${berth.url}/v2/`, { headers: { Authorization: basicAuth(c) } })).status,
  'GET /oauth2/token': async (c) =>
    (await fetch(`${berth.url}/oauth2/token?service=${berth.host}&scope=repository:team/app:pull`, { headers: { Authorization: basicAuth(c) } })).status,
  'POST /oauth2/token (password grant)': async (c) =>
    (
      await fetch(`${berth.url}/oauth2/token`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'password', service: berth.host, username: c.username, password: c.password }).toString(),
      })
    ).status,
};

/**
 * Failed logins, by what the name is; each must cost what an unknown name costs. Every endpoint
 * goes through the same check, so the slower, rarer kinds are sampled on the first one only.
 */
function failures(all: boolean): Record<string, Credentials> {
  return {
    'unknown name': { username: 'nobody-by-this-name', password: 'wrong-password' },
    'user, wrong password': { username: user.username, password: 'wrong-password' },
    'token, wrong password': { username: token.username, password: 'wrong-password' },
    ...(all
      ? {
          'admin, wrong password': { username: adminCredentials.username, password: 'wrong-password' },
          'disabled token, its password': disabledToken,
        }
      : {}),
  };
}

async function timed(login: (c: Credentials) => Promise<number>, credentials: Credentials): Promise<number> {
  const start = performance.now();
  const status = await login(credentials);
  const ms = performance.now() - start;
  assert.equal(status, 401, `${credentials.username} should fail to log in`);
  return ms;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function shuffled<T>(items: T[]): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy;
}

async function createToken(name: string, status: 'enabled' | 'disabled'): Promise<Credentials> {
  const created = await api<CreatedToken>(berth.url, adminCredentials, 'POST', '/api/v1/tokens', {
    name,
    rules: [{ repository: 'team/app', actions: ['content/read'] }],
    status,
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return { username: name, password: tokenPassword(created.body) };
}

before(async () => {
  // Hundreds of failures from one address: the failed-login throttle would answer 429 after 10.
  berth = await startBerth({ env: { BERTH_LOGIN_MAX_FAILURES: '1000000' } });
  const created = await api(berth.url, adminCredentials, 'POST', '/api/v1/users', { name: user.username, password: user.password, roles: ['AcrPull'] });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  token = await createToken('timing-token', 'enabled');
  disabledToken = await createToken('timing-off', 'disabled');
});
after(async () => {
  await berth?.stop();
});

describe('failed logins take as long whether or not the name exists', () => {
  for (const [index, [endpoint, login]] of Object.entries(endpoints).entries()) {
    it(endpoint, async () => {
      // The known names really are known: their right passwords log in (and the disabled token's does not).
      for (const known of [user, token, adminCredentials]) assert.equal(await login(known), 200, `${known.username} should log in`);
      const kinds = failures(index === 0);
      const samples: Record<string, number[]> = Object.fromEntries(Object.keys(kinds).map((k) => [k, []]));
      // Warm-up (first-call costs), then rounds in which every kind is tried once, in a random
      // order, so a busy machine slows all kinds alike.
      for (const credentials of Object.values(kinds)) await timed(login, credentials);
      const rounds = 9;
      for (let round = 0; round < rounds; round++) {
        for (const kind of shuffled(Object.keys(kinds))) samples[kind]!.push(await timed(login, kinds[kind]!));
      }
      const unknown = median(samples['unknown name']!);
      const report = Object.entries(samples).map(([kind, values]) => `${kind}: median ${median(values).toFixed(1)} ms`).join('; ');
      for (const [kind, values] of Object.entries(samples)) {
        const ratio = median(values) / unknown;
        assert.ok(ratio > 0.6 && ratio < 1.6, `${kind} vs unknown name: ratio ${ratio.toFixed(2)} (${report})`);
      }
      console.log(`# ${endpoint}: ${report}`);
    });
  }
});
