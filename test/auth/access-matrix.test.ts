import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { adminCredentials, startBerth, type BerthProcess } from '../helpers/berth-process.js';
import { OciClient, sha256, type Credentials } from '../helpers/oci-client.js';
import { api, tokenPassword, type CreatedToken } from '../helpers/management.js';

let berth: BerthProcess;
const identities: Record<string, Credentials | null> = { anonymous: null, admin: adminCredentials };

type Operation = 'pull' | 'push' | 'delete' | 'tags' | 'referrers' | 'catalog' | 'mount' | 'manage';

/** Performs one operation as `who` against `repo`, returning the HTTP status. */
async function perform(who: string, operation: Operation, repo: string): Promise<number> {
  const client = new OciClient(berth.url, identities[who]!);
  const admin = new OciClient(berth.url);
  switch (operation) {
    case 'pull':
      return (await client.request('GET', `/v2/${repo}/manifests/v1`)).status;
    case 'tags':
      return (await client.request('GET', `/v2/${repo}/tags/list`)).status;
    case 'referrers':
      return (await client.request('GET', `/v2/${repo}/referrers/${sha256('subject')}`)).status;
    case 'catalog':
      return (await client.request('GET', '/v2/_catalog')).status;
    case 'push': {
      const data = `blob pushed by ${who} ${Math.random()}`;
      return (await client.request('POST', `/v2/${repo}/blobs/uploads/?digest=${sha256(data)}`, { body: data })).status;
    }
    case 'delete': {
      const image = await admin.pushImage(repo, `victim-${Math.random().toString(36).slice(2)}`);
      return (await client.request('DELETE', `/v2/${repo}/manifests/${image.digest}`)).status;
    }
    case 'mount': {
      // Mount from the shared source repository into `repo`: 201 only with push on repo and pull on the source.
      const res = await client.request('POST', `/v2/${repo}/blobs/uploads/?mount=${sharedBlob}&from=shared/source`);
      return res.status;
    }
    case 'manage':
      return (await api(berth.url, identities[who]!, 'GET', '/api/v1/tokens')).status;
  }
}

let sharedBlob = '';

before(async () => {
  berth = await startBerth();
  const admin = new OciClient(berth.url);
  for (const repo of ['hello-world', 'base/node', 'team/app', 'shared/source']) await admin.pushImage(repo, 'v1');
  sharedBlob = (await admin.pushBlob('shared/source', 'shared layer')).digest;

  for (const [name, role] of [
    ['puller', 'AcrPull'],
    ['pusher', 'AcrPush'],
    ['deleter', 'AcrDelete'],
    ['owner2', 'Owner'],
  ] as const) {
    const created = await api(berth.url, adminCredentials, 'POST', '/api/v1/users', { name, password: `${name}-password`, roles: [role] });
    assert.equal(created.status, 201);
    identities[name] = { username: name, password: `${name}-password` };
  }
  const tokens: Array<[string, object]> = [
    ['tok-hello-pull', { rules: [{ repository: 'hello-world', actions: ['content/read'] }] }],
    ['tok-base-push', { rules: [{ repository: 'base/*', actions: ['content/read', 'content/write'] }] }],
    ['tok-base-delete', { rules: [{ repository: 'base/*', actions: ['content/read', 'content/delete'] }] }],
    ['tok-write-only', { rules: [{ repository: 'team/app', actions: ['content/write'] }] }],
    ['tok-registry-admin', { scopeMap: '_repositories_admin' }],
  ];
  for (const [name, spec] of tokens) {
    const created = await api<CreatedToken>(berth.url, adminCredentials, 'POST', '/api/v1/tokens', { name, ...spec });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    identities[name] = { username: name, password: tokenPassword(created.body) };
  }
});
after(async () => {
  await berth?.stop();
});

// identity, operation, repository, expected status
const matrix: Array<[string, Operation, string, number]> = [
  ['anonymous', 'pull', 'hello-world', 401],
  ['anonymous', 'push', 'hello-world', 401],
  ['anonymous', 'catalog', '', 401],
  ['anonymous', 'manage', '', 401],
  ['admin', 'pull', 'team/app', 200],
  ['admin', 'push', 'team/app', 201],
  ['admin', 'delete', 'team/app', 202],
  ['admin', 'catalog', '', 200],
  ['admin', 'manage', '', 200],
  ['puller', 'pull', 'team/app', 200],
  ['puller', 'tags', 'base/node', 200],
  ['puller', 'referrers', 'base/node', 200],
  ['puller', 'catalog', '', 200],
  ['puller', 'push', 'team/app', 403],
  ['puller', 'delete', 'team/app', 403],
  ['puller', 'manage', '', 403],
  ['pusher', 'push', 'team/app', 201],
  ['pusher', 'pull', 'team/app', 200],
  ['pusher', 'delete', 'team/app', 403],
  ['pusher', 'mount', 'team/app', 201],
  ['deleter', 'delete', 'team/app', 202],
  ['deleter', 'pull', 'team/app', 403],
  ['deleter', 'push', 'team/app', 403],
  ['owner2', 'manage', '', 200],
  ['owner2', 'delete', 'base/node', 202],
  ['tok-hello-pull', 'pull', 'hello-world', 200],
  ['tok-hello-pull', 'tags', 'hello-world', 200],
  ['tok-hello-pull', 'pull', 'team/app', 403],
  ['tok-hello-pull', 'push', 'hello-world', 403],
  ['tok-hello-pull', 'delete', 'hello-world', 403],
  ['tok-hello-pull', 'catalog', '', 403],
  ['tok-hello-pull', 'manage', '', 403],
  ['tok-base-push', 'push', 'base/node', 201],
  ['tok-base-push', 'push', 'base/new/deep', 201],
  ['tok-base-push', 'pull', 'base/node', 200],
  ['tok-base-push', 'push', 'team/app', 403],
  ['tok-base-push', 'push', 'basement', 403],
  ['tok-base-push', 'delete', 'base/node', 403],
  // pushing with a mount needs pull on the source: without it the mount falls back to an upload
  ['tok-base-push', 'mount', 'base/node', 202],
  ['tok-base-delete', 'delete', 'base/node', 202],
  ['tok-base-delete', 'delete', 'team/app', 403],
  ['tok-write-only', 'push', 'team/app', 201],
  ['tok-write-only', 'pull', 'team/app', 403],
  ['tok-registry-admin', 'push', 'team/app', 201],
  ['tok-registry-admin', 'delete', 'hello-world', 202],
  ['tok-registry-admin', 'mount', 'team/app', 201],
  ['tok-registry-admin', 'catalog', '', 403],
  ['tok-registry-admin', 'manage', '', 403],
];

describe('permission matrix (Basic credentials on every endpoint)', () => {
  for (const [who, operation, repo, expected] of matrix) {
    it(`${who} ${operation} ${repo || '(registry)'} -> ${expected}`, async () => {
      assert.equal(await perform(who, operation, repo), expected);
    });
  }
});

describe('denials', () => {
  it('unauthenticated requests get a Bearer challenge naming the scope', async () => {
    const res = await new OciClient(berth.url, null).request('GET', '/v2/hello-world/manifests/v1');
    assert.equal(res.status, 401);
    const challenge = res.headers.get('www-authenticate') ?? '';
    assert.match(challenge, /^Bearer realm="http:\/\/127\.0\.0\.1:\d+\/oauth2\/token",service="127\.0\.0\.1:\d+",scope="repository:hello-world:pull"$/);
    const body = (await res.json()) as { errors: Array<{ code: string; detail: unknown }> };
    assert.equal(body.errors[0]!.code, 'UNAUTHORIZED');
    assert.deepEqual(body.errors[0]!.detail, [{ Type: 'repository', Name: 'hello-world', Action: 'pull' }]);
    const push = await new OciClient(berth.url, null).request('POST', '/v2/team/app/blobs/uploads/');
    assert.match(push.headers.get('www-authenticate') ?? '', /scope="repository:team\/app:pull,push"/);
    const base = await new OciClient(berth.url, null).request('GET', '/v2/');
    assert.equal(base.status, 401);
  });

  it('authenticated but not allowed is 403 DENIED in the error envelope', async () => {
    const res = await new OciClient(berth.url, identities['tok-hello-pull']!).request('GET', '/v2/team/app/manifests/v1');
    assert.equal(res.status, 403);
    assert.equal(((await res.json()) as { errors: Array<{ code: string }> }).errors[0]!.code, 'DENIED');
  });

  it('wrong passwords are 401 and never reach the handler', async () => {
    const res = await new OciClient(berth.url, { username: 'puller', password: 'wrong-password' }).request('GET', '/v2/team/app/manifests/v1');
    assert.equal(res.status, 401);
  });
});
