import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { adminCredentials, startBerth, tempDir, type BerthProcess } from '../helpers/berth-process.js';
import { OciClient, basicAuth, type Credentials } from '../helpers/oci-client.js';
import { api, tokenPassword, type CreatedToken } from '../helpers/management.js';

let berth: BerthProcess;

function claims(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
}

function header(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[0]!, 'base64url').toString()) as Record<string, unknown>;
}

async function getToken(credentials: Credentials | null, scopes: string[], extra = ''): Promise<{ status: number; body: Record<string, unknown> }> {
  const query = scopes.map((s) => `scope=${encodeURIComponent(s)}`).join('&');
  const res = await fetch(`${berth.url}/oauth2/token?service=${berth.host}&${query}${extra}`, {
    headers: credentials ? { Authorization: basicAuth(credentials) } : {},
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function postToken(form: Record<string, string>): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${berth.url}/oauth2/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ service: berth.host, ...form }).toString(),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function bearer(token: string, method: string, path: string): Promise<Response> {
  return fetch(berth.url + path, { method, headers: { Authorization: `Bearer ${token}` } });
}

async function createToken(name: string, rules: object[], extra: object = {}): Promise<Credentials> {
  const created = await api<CreatedToken>(berth.url, adminCredentials, 'POST', '/api/v1/tokens', { name, rules, ...extra });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return { username: name, password: tokenPassword(created.body) };
}

before(async () => {
  berth = await startBerth();
  const admin = new OciClient(berth.url);
  await admin.pushImage('hello-world', 'v1');
  await admin.pushImage('team/app', 'v1');
});
after(async () => {
  await berth.stop();
});

describe('Docker token flow', () => {
  it('GET /oauth2/token grants only the actions the identity holds', async () => {
    const token = await createToken('flow-pull', [{ repository: 'hello-world', actions: ['content/read'] }]);
    const { status, body } = await getToken(token, ['repository:hello-world:pull,push', 'repository:team/app:pull', 'registry:catalog:*']);
    assert.equal(status, 200);
    assert.equal(body.access_token, body.token);
    assert.equal(typeof body.expires_in, 'number');
    const c = claims(body.access_token as string);
    assert.deepEqual(c.access, [{ type: 'repository', name: 'hello-world', actions: ['pull'] }]);
    assert.equal(c.sub, 'flow-pull');
    assert.equal(header(body.access_token as string).alg, 'ES256');
    const ok = await bearer(body.access_token as string, 'GET', '/v2/hello-world/manifests/v1');
    assert.equal(ok.status, 200);
    const denied = await bearer(body.access_token as string, 'GET', '/v2/team/app/manifests/v1');
    assert.equal(denied.status, 403);
  });

  it('admin gets "*" expanded and the catalog', async () => {
    const { body } = await getToken(adminCredentials, ['repository:team/app:*', 'registry:catalog:*']);
    assert.deepEqual(claims(body.access_token as string).access, [
      { type: 'repository', name: 'team/app', actions: ['pull', 'push', 'delete'] },
      { type: 'registry', name: 'catalog', actions: ['*'] },
    ]);
    assert.equal((await bearer(body.access_token as string, 'GET', '/v2/_catalog')).status, 200);
  });

  it('bad credentials are 401 and audited as failed logins', async () => {
    const { status, body } = await getToken({ username: 'admin', password: 'nope-nope' }, ['repository:team/app:pull']);
    assert.equal(status, 401);
    assert.equal((body.errors as Array<{ code: string }>)[0]!.code, 'UNAUTHORIZED');
    const audit = await api<Array<{ kind: string; actor: string }>>(berth.url, adminCredentials, 'GET', '/api/v1/audit?kind=login.failed');
    assert.ok(audit.body.some((e) => e.actor === 'admin'));
  });

  it('a token that lacks a scope its owner holds gets 401 insufficient_scope; one the owner lacks gets 403', async () => {
    const { body } = await getToken(adminCredentials, ['repository:hello-world:pull']);
    const res = await bearer(body.access_token as string, 'GET', '/v2/team/app/manifests/v1');
    assert.equal(res.status, 401);
    assert.match(res.headers.get('www-authenticate') ?? '', /scope="repository:team\/app:pull",error="insufficient_scope"/);
  });

  it('password grant returns a refresh token; refresh grant issues access tokens until the password changes', async () => {
    const token = await createToken('flow-refresh', [{ repository: 'team/app', actions: ['content/read'] }]);
    const login = await postToken({ grant_type: 'password', username: token.username, password: token.password, access_type: 'offline', client_id: 'test' });
    assert.equal(login.status, 200);
    const refresh = login.body.refresh_token as string;
    assert.equal(claims(refresh).typ, 'refresh');
    const renewed = await postToken({ grant_type: 'refresh_token', refresh_token: refresh, scope: 'repository:team/app:pull' });
    assert.equal(renewed.status, 200);
    assert.equal((await bearer(renewed.body.access_token as string, 'GET', '/v2/team/app/manifests/v1')).status, 200);
    // regenerating password1 (the one used) revokes refresh tokens made from it
    await api(berth.url, adminCredentials, 'POST', '/api/v1/tokens/flow-refresh/credentials', { password: 'password1' });
    const revoked = await postToken({ grant_type: 'refresh_token', refresh_token: refresh, scope: 'repository:team/app:pull' });
    assert.equal(revoked.status, 401);
    // an access token is not a refresh token
    const misuse = await postToken({ grant_type: 'refresh_token', refresh_token: renewed.body.access_token as string });
    assert.equal(misuse.status, 401);
    const unknown = await postToken({ grant_type: 'client_credentials' });
    assert.equal(unknown.status, 400);
  });

  it('rotating the signing key logs nobody out', async () => {
    const before = await getToken(adminCredentials, ['repository:team/app:pull']);
    const rotated = await api<{ kid: string; retired: string[] }>(berth.url, adminCredentials, 'POST', '/api/v1/signing-keys/rotate');
    assert.equal(rotated.status, 200);
    assert.ok(rotated.body.retired.includes(header(before.body.access_token as string).kid as string));
    assert.equal((await bearer(before.body.access_token as string, 'GET', '/v2/team/app/manifests/v1')).status, 200);
    const after = await getToken(adminCredentials, ['repository:team/app:pull']);
    assert.equal(header(after.body.access_token as string).kid, rotated.body.kid);
    assert.equal((await bearer(after.body.access_token as string, 'GET', '/v2/team/app/manifests/v1')).status, 200);
  });

  it('a forged or garbage bearer token is refused', async () => {
    const { body } = await getToken(adminCredentials, ['repository:team/app:pull']);
    const [h, , s] = (body.access_token as string).split('.');
    const forgedClaims = Buffer.from(JSON.stringify({ ...claims(body.access_token as string), access: [{ type: 'repository', name: 'team/app', actions: ['delete'] }] })).toString('base64url');
    assert.equal((await bearer(`${h}.${forgedClaims}.${s}`, 'GET', '/v2/team/app/manifests/v1')).status, 401);
    assert.equal((await bearer('not-a-jwt', 'GET', '/v2/team/app/manifests/v1')).status, 401);
  });
});

describe('token lifecycle', () => {
  it('disabled and expired tokens cannot log in; re-enabling works at once', async () => {
    const token = await createToken('life-cycle', [{ repository: 'team/app', actions: ['content/read'] }]);
    const client = new OciClient(berth.url, token);
    assert.equal((await client.request('GET', '/v2/team/app/manifests/v1')).status, 200);
    await api(berth.url, adminCredentials, 'PATCH', '/api/v1/tokens/life-cycle', { status: 'disabled' });
    assert.equal((await client.request('GET', '/v2/team/app/manifests/v1')).status, 401);
    assert.equal((await getToken(token, ['repository:team/app:pull'])).status, 401);
    await api(berth.url, adminCredentials, 'PATCH', '/api/v1/tokens/life-cycle', { status: 'enabled' });
    assert.equal((await client.request('GET', '/v2/team/app/manifests/v1')).status, 200);
    await api(berth.url, adminCredentials, 'PATCH', '/api/v1/tokens/life-cycle', { expiresAt: new Date(Date.now() - 1000).toISOString() });
    assert.equal((await client.request('GET', '/v2/team/app/manifests/v1')).status, 401);
  });

  it('a password with its own expiry stops working; the other keeps working', async () => {
    const created = await api<CreatedToken>(berth.url, adminCredentials, 'POST', '/api/v1/tokens', {
      name: 'two-passwords',
      rules: [{ repository: 'team/app', actions: ['content/read'] }],
    });
    // Long enough for the next two requests (each hashes or checks a password) on a busy machine.
    const soon = new Date(Date.now() + 5000).toISOString();
    const regenerated = await api<CreatedToken>(berth.url, adminCredentials, 'POST', '/api/v1/tokens/two-passwords/credentials', { password: 'password2', expiresAt: soon });
    const p1 = new OciClient(berth.url, { username: 'two-passwords', password: tokenPassword(created.body, 'password1') });
    const p2 = new OciClient(berth.url, { username: 'two-passwords', password: tokenPassword(regenerated.body, 'password2') });
    assert.equal((await p2.request('GET', '/v2/team/app/tags/list')).status, 200);
    await new Promise((r) => setTimeout(r, Date.parse(soon) - Date.now() + 100)); // until it has expired
    await api(berth.url, adminCredentials, 'PATCH', '/api/v1/tokens/two-passwords', {}); // any change clears cached logins
    assert.equal((await p2.request('GET', '/v2/team/app/tags/list')).status, 401);
    assert.equal((await p1.request('GET', '/v2/team/app/tags/list')).status, 200);
    // the old password2 from creation was replaced
    const old = new OciClient(berth.url, { username: 'two-passwords', password: tokenPassword(created.body, 'password2') });
    assert.equal((await old.request('GET', '/v2/team/app/tags/list')).status, 401);
  });

  it("a scope map change takes effect immediately for the token's next request", async () => {
    const token = await createToken('scope-change', [{ repository: 'hello-world', actions: ['content/read'] }]);
    const client = new OciClient(berth.url, token);
    assert.equal((await client.request('GET', '/v2/team/app/manifests/v1')).status, 403);
    const updated = await api(berth.url, adminCredentials, 'PATCH', '/api/v1/scope-maps/scope-change-scope-map', {
      addRules: [{ repository: 'team/*', actions: ['content/read'] }],
    });
    assert.equal(updated.status, 200);
    assert.equal((await client.request('GET', '/v2/team/app/manifests/v1')).status, 200);
    await api(berth.url, adminCredentials, 'PATCH', '/api/v1/scope-maps/scope-change-scope-map', {
      removeRules: [{ repository: 'team/*', actions: ['content/read'] }],
    });
    assert.equal((await client.request('GET', '/v2/team/app/manifests/v1')).status, 403);
  });

  it('anonymous pull, switched on, opens pulls (not pushes) to clients without credentials', async () => {
    const anonymous = new OciClient(berth.url, null);
    assert.equal((await anonymous.request('GET', '/v2/team/app/manifests/v1')).status, 401);
    await api(berth.url, adminCredentials, 'PATCH', '/api/v1/settings', { anonymousPullEnabled: true });
    assert.equal((await anonymous.request('GET', '/v2/team/app/manifests/v1')).status, 200);
    assert.equal((await anonymous.request('POST', '/v2/team/app/blobs/uploads/')).status, 401);
    const anonToken = await getToken(null, ['repository:team/app:pull,push']);
    assert.deepEqual(claims(anonToken.body.access_token as string).access, [{ type: 'repository', name: 'team/app', actions: ['pull'] }]);
    // ACR: anonymous pull also widens a restricted token's pull rights
    const narrow = await createToken('narrow-token', [{ repository: 'hello-world', actions: ['content/read'] }]);
    assert.equal((await new OciClient(berth.url, narrow).request('GET', '/v2/team/app/manifests/v1')).status, 200);
    await api(berth.url, adminCredentials, 'PATCH', '/api/v1/settings', { anonymousPullEnabled: false });
    assert.equal((await anonymous.request('GET', '/v2/team/app/manifests/v1')).status, 401);
  });
});

describe('management API input', () => {
  it('refuses bad input with a clear error and changes nothing', async () => {
    const cases: Array<[string, string, object, number]> = [
      ['POST', '/api/v1/tokens', { name: 'bad-pattern', rules: [{ repository: 'a/*/b', actions: ['content/read'] }] }, 400],
      ['POST', '/api/v1/tokens', { name: 'bad-action', rules: [{ repository: 'a', actions: ['content/everything'] }] }, 400],
      ['POST', '/api/v1/tokens', { name: 'no-scope' }, 400],
      ['POST', '/api/v1/tokens', { name: 'x', rules: [{ repository: 'a', actions: ['content/read'] }] }, 400],
      ['POST', '/api/v1/users', { name: 'weak', password: 'short', roles: ['AcrPull'] }, 400],
      ['POST', '/api/v1/users', { name: 'norole', roles: ['Superuser'] }, 400],
      ['POST', '/api/v1/users', { name: 'admin', roles: ['AcrPull'] }, 409],
      ['DELETE', '/api/v1/scope-maps/_repositories_pull', {}, 400],
      ['DELETE', '/api/v1/users/admin', {}, 400],
      ['GET', '/api/v1/tokens/does-not-exist', {}, 404],
    ];
    for (const [method, path, body, status] of cases) {
      const res = await api<{ errors: Array<{ code: string; message: string }> }>(berth.url, adminCredentials, method, path, method === 'GET' || method === 'DELETE' ? undefined : body);
      assert.equal(res.status, status, `${method} ${path} ${JSON.stringify(body)}`);
      assert.ok(res.body.errors[0]!.message.length > 0);
    }
    const tokens = await api<Array<{ name: string }>>(berth.url, adminCredentials, 'GET', '/api/v1/tokens');
    assert.ok(!tokens.body.some((t) => ['bad-pattern', 'bad-action', 'no-scope'].includes(t.name)));
  });

  it('lists never reveal secrets; the database holds only scrypt hashes', async () => {
    const listed = JSON.stringify((await api(berth.url, adminCredentials, 'GET', '/api/v1/tokens')).body);
    assert.ok(!listed.includes('"value"'));
    const db = new BetterSqlite3(join(berth.dataDir, 'metadata.db'), { readonly: true });
    const users = db.prepare('select password_hash from users').all() as Array<{ password_hash: string }>;
    const tokens = db.prepare('select password1 from tokens where password1 is not null').all() as Array<{ password1: string }>;
    db.close();
    assert.ok(users.every((u) => u.password_hash.startsWith('scrypt$')));
    assert.ok(tokens.every((t) => (JSON.parse(t.password1) as { hash: string }).hash.startsWith('scrypt$')));
    assert.ok(!berth.stdout().includes(adminCredentials.password));
  });

  it('publishes an OpenAPI document', async () => {
    const doc = (await api<{ openapi: string; paths: Record<string, unknown> }>(berth.url, null, 'GET', '/api/v1/openapi.json')).body;
    assert.match(doc.openapi, /^3\./);
    for (const path of ['/api/v1/tokens', '/api/v1/scope-maps', '/api/v1/users', '/api/v1/audit', '/api/v1/settings']) assert.ok(doc.paths[path], path);
  });
});

describe('secure by default', () => {
  it('without BERTH_ADMIN_PASSWORD a password is generated, printed once and kept in a 0600 file', async () => {
    const dataDir = tempDir('first-start');
    const first = await startBerth({ dataDir, env: { BERTH_ADMIN_PASSWORD: '' } });
    const file = join(dataDir, 'initial-admin-password');
    const password = readFileSync(file, 'utf8').trim();
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.ok(first.stderr().includes(password));
    assert.equal((await new OciClient(first.url, { username: 'admin', password }).request('GET', '/v2/')).status, 200);
    await first.stop();
    const second = await startBerth({ dataDir, env: { BERTH_ADMIN_PASSWORD: '' } });
    assert.ok(!second.stderr().includes(password), 'printed only on first start');
    assert.equal((await new OciClient(second.url, { username: 'admin', password }).request('GET', '/v2/')).status, 200);
    await second.stop();
  });

  it('--auth none opens everything and says so loudly', async () => {
    const open = await startBerth({ args: ['--auth', 'none'] });
    assert.match(open.stderr(), /WARNING: --auth none/);
    assert.equal((await new OciClient(open.url, null).pushImage('open/repo', 'v1')).digest.startsWith('sha256:'), true);
    await open.stop();
  });

  it('repeated failed logins are throttled with 429 and Retry-After', async () => {
    const throttled = await startBerth({ env: { BERTH_LOGIN_MAX_FAILURES: '3' } });
    const wrong = new OciClient(throttled.url, { username: 'admin', password: 'wrong-password' });
    for (let i = 0; i < 3; i++) assert.equal((await wrong.request('GET', '/v2/')).status, 401);
    const blocked = await wrong.request('GET', '/v2/');
    assert.equal(blocked.status, 429);
    assert.ok(Number(blocked.headers.get('retry-after')) > 0);
    // even the right password waits: the client is throttled, not the account guessed at
    assert.equal((await new OciClient(throttled.url).request('GET', '/v2/')).status, 429);
    await throttled.stop();
  });

  it('requests are rate-limited per identity with TOOMANYREQUESTS', async () => {
    const limited = await startBerth({ env: { BERTH_RATE_LIMIT_RPS: '1', BERTH_RATE_LIMIT_BURST: '3' } });
    const admin = new OciClient(limited.url);
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await admin.request('GET', '/v2/')).status);
    assert.deepEqual(statuses.slice(0, 3), [200, 200, 200]);
    const last = await admin.request('GET', '/v2/');
    assert.equal(last.status, 429);
    assert.equal(((await last.json()) as { errors: Array<{ code: string }> }).errors[0]!.code, 'TOOMANYREQUESTS');
    assert.ok(Number(last.headers.get('retry-after')) >= 1);
    // anonymous callers are counted per address, in a bucket of their own: 401, not 429
    const anonymous = await api(limited.url, null, 'GET', '/v2/');
    assert.equal(anonymous.status, 401);
    await limited.stop();
  });
});
