import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { adminCredentials, startBerth, tempDir, type BerthProcess } from '../helpers/berth-process.js';
import { api, tokenPassword, type CreatedToken } from '../helpers/management.js';
import { OciClient } from '../helpers/oci-client.js';
import { Receiver } from '../helpers/receiver.js';
import { berthCliAsync } from '../helpers/task-helpers.js';

let berth: BerthProcess;
let oci: OciClient;
const receiver = new Receiver();
const configDir = tempDir('next-version-cli');

interface VersionTag {
  repository: string;
  tag: string;
  version: string;
  digest: string;
  previousVersion: string | null;
}
interface ErrorBody {
  errors: Array<{ code: string; message: string }>;
}

const next = (body: Record<string, unknown>, credentials = adminCredentials) => api<VersionTag & ErrorBody>(berth.url, credentials, 'POST', '/api/v1/next-version-tags', body);

before(async () => {
  berth = await startBerth();
  oci = new OciClient(berth.url);
  await receiver.start();
  assert.equal((await berthCliAsync(configDir, ['login', berth.url, '-u', 'admin', '-p', adminCredentials.password])).status, 0);
});
after(async () => {
  await berth?.stop();
  await receiver.stop();
});

describe('next version tag (PREFIX-X.Y.Z)', () => {
  it('1.0.0 first, then minor by default; major and patch; other prefixes and non-versions ignored; the tag pulls', async () => {
    const repository = 'nv/platform';
    const { digest } = await oci.pushImage(repository, 'candidate');
    // Tags that look close but are not versions of this prefix must not count.
    for (const tag of ['6.0-bullseye-slim-9.0.0-rc1', '6.0-bullseye-slim-v7.0.0', '6.0-bullseye-slim-01.0.0', '6.0-bullseye-9.0.0', '7.0-bullseye-slim-5.0.0', 'latest']) {
      await oci.pushImage(repository, tag);
    }
    const prefix = '6.0-bullseye-slim';
    const first = await next({ repository, source: 'candidate', prefix });
    assert.equal(first.status, 201, JSON.stringify(first.body));
    assert.deepEqual(first.body, { repository, tag: `${prefix}-1.0.0`, version: '1.0.0', digest, previousVersion: null });
    assert.equal((await next({ repository, source: 'candidate', prefix })).body.tag, `${prefix}-1.1.0`);
    assert.equal((await next({ repository, source: digest, prefix, bump: 'patch' })).body.tag, `${prefix}-1.1.1`, 'by digest too');
    const major = await next({ repository, source: 'candidate', prefix, bump: 'major' });
    assert.deepEqual([major.body.tag, major.body.previousVersion], [`${prefix}-2.0.0`, '1.1.1']);
    assert.equal((await next({ repository, source: 'candidate', prefix })).body.tag, `${prefix}-2.1.0`);

    const pulled = await oci.request('GET', `/v2/${repository}/manifests/${prefix}-2.1.0`, { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } });
    assert.equal(pulled.status, 200);
    assert.equal(pulled.headers.get('docker-content-digest'), digest);
    // Numbers compare as numbers: 10 is above 9.
    const candidate = JSON.parse(await pulled.text()) as object;
    await oci.pushManifest(repository, `${prefix}-2.9.0`, candidate);
    await oci.pushManifest(repository, `${prefix}-2.10.0`, candidate);
    assert.equal((await next({ repository, source: 'candidate', prefix })).body.tag, `${prefix}-2.11.0`);
  });

  it('20 concurrent requests get 20 distinct versions', async () => {
    const repository = 'nv/race';
    await oci.pushImage(repository, 'src');
    const answers = await Promise.all(Array.from({ length: 20 }, () => next({ repository, source: 'src', prefix: 'app', bump: 'patch' })));
    assert.deepEqual(answers.map((a) => a.status), Array(20).fill(201));
    const versions = answers.map((a) => a.body.version).sort((a, b) => Number(a.split('.')[2]) - Number(b.split('.')[2]));
    assert.deepEqual(versions, ['1.0.0', ...Array.from({ length: 19 }, (_, i) => `1.0.${i + 1}`)]);
    const tags = (await (await oci.request('GET', `/v2/${repository}/tags/list`)).json()) as { tags: string[] };
    assert.equal(tags.tags.filter((t) => t.startsWith('app-')).length, 20);
  });

  it('is a tag push like any other: journaled as manifest.pushed, so webhooks see it', async () => {
    const created = await api(berth.url, adminCredentials, 'POST', '/api/v1/webhooks', { name: 'nvhook', uri: receiver.url, actions: ['push'], scope: 'nv/hooked:*' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const { digest } = await oci.pushImage('nv/hooked', 'build');
    await receiver.waitFor(1);
    assert.equal((await next({ repository: 'nv/hooked', source: 'build', prefix: 'rel' })).status, 201);
    const events = await receiver.waitFor(2);
    assert.equal(events[1]!.json.action, 'push');
    assert.deepEqual([events[1]!.json.target.repository, events[1]!.json.target.tag, events[1]!.json.target.digest], ['nv/hooked', 'rel-1.0.0', digest]);
  });

  it('needs push on the repository: 403 DENIED in the registry error format; pull alone is not enough', async () => {
    await oci.pushImage('nv/guarded', 'src');
    const token = await api<CreatedToken>(berth.url, adminCredentials, 'POST', '/api/v1/tokens', {
      name: 'nv-reader',
      rules: [
        { repository: 'nv/guarded', actions: ['content/read'] },
        { repository: 'nv/writable', actions: ['content/read', 'content/write'] },
      ],
    });
    assert.equal(token.status, 201, JSON.stringify(token.body));
    const reader = { username: 'nv-reader', password: tokenPassword(token.body) };
    const denied = await next({ repository: 'nv/guarded', source: 'src', prefix: 'rel' }, reader);
    assert.equal(denied.status, 403);
    assert.equal(denied.body.errors[0]!.code, 'DENIED');
    assert.match(denied.body.errors[0]!.message, /push permission on nv\/guarded/);
    assert.equal((await oci.request('GET', '/v2/nv/guarded/tags/list')).status, 200);
    assert.deepEqual(((await (await oci.request('GET', '/v2/nv/guarded/tags/list')).json()) as { tags: string[] }).tags, ['src'], 'nothing tagged');
    // A push-only token (no Owner role) may: the route is not Owner-only.
    await oci.pushImage('nv/writable', 'src');
    assert.equal((await next({ repository: 'nv/writable', source: 'src', prefix: 'rel' }, reader)).status, 201);
    assert.equal((await next({ repository: 'nv/guarded', source: 'src', prefix: 'rel' }, null as never)).status, 401);
  });

  it('a bad prefix, bump or source is a 400 / 404 with a clear message', async () => {
    await oci.pushImage('nv/bad', 'src');
    for (const [body, pattern] of [
      [{ prefix: '', source: 'src' }, /invalid version prefix ""/],
      [{ prefix: '-x', source: 'src' }, /invalid version prefix "-x"/],
      [{ prefix: 'a b', source: 'src' }, /invalid version prefix "a b"/],
      [{ prefix: 'x'.repeat(81), source: 'src' }, /invalid version prefix/],
      [{ prefix: 'ok', source: 'src', bump: 'huge' }, /bump/],
    ] as const) {
      const answer = await next({ repository: 'nv/bad', ...body });
      assert.equal(answer.status, 400, JSON.stringify(body));
      assert.match(answer.body.errors[0]!.message, pattern);
    }
    const unknown = await next({ repository: 'nv/bad', source: 'missing', prefix: 'ok' });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.errors[0]!.code, 'MANIFEST_UNKNOWN');
  });

  it('berth repository tag-next-version: prints the tag; -o json the tag, version and digest; REGISTRY/repo accepted', async () => {
    const { digest } = await oci.pushImage('nv/cli', 'build');
    const cli = (args: string[]) => berthCliAsync(configDir, ['repository', 'tag-next-version', ...args]);
    const first = await cli(['--repository', 'nv/cli', '--source', 'build', '--prefix', '6.0-bullseye-slim']);
    assert.equal(first.status, 0, first.stderr);
    assert.equal(first.stdout, '6.0-bullseye-slim-1.0.0\n');
    const second = await cli(['--repository', `${berth.host}/nv/cli`, '--source', 'build', '--prefix', '6.0-bullseye-slim', '--bump', 'major', '-o', 'json']);
    assert.equal(second.status, 0, second.stderr);
    assert.deepEqual(JSON.parse(second.stdout), { repository: 'nv/cli', tag: '6.0-bullseye-slim-2.0.0', version: '2.0.0', digest, previousVersion: '1.0.0' });
    const query = await cli(['--repository', 'nv/cli', '--source', 'build', '--prefix', '6.0-bullseye-slim', '-o', 'tsv', '--query', 'version']);
    assert.equal(query.stdout, '2.1.0\n');
    const bad = await cli(['--repository', 'nv/cli', '--source', 'build', '--prefix', 'x', '--bump', 'sideways']);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /bump/);
  });
});
