import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { LifecyclePolicy } from '../../src/lifecycle/policy.js';
import type { PolicyEvaluation } from '../../src/lifecycle/policy-service.js';
import { adminCredentials, startBerth, tempDir, type BerthProcess } from '../helpers/berth-process.js';
import { api } from '../helpers/management.js';
import { OciClient } from '../helpers/oci-client.js';
import { berthCliAsync } from '../helpers/task-helpers.js';
import { waitFor } from '../helpers/wait.js';
import { manifestStatus, pushUntagged, tagsOf } from './lifecycle-helpers.js';

interface Envelope {
  errors: Array<{ code: string; message: string }>;
}
interface AuditEntry {
  kind: string;
  actor: string;
  target: string;
  detail: { policy: string; rule: string; tag?: string; digest: string; referrerOf?: string; trigger: string };
}

let berth: BerthProcess;
let client: OciClient;
let configDir: string;
const cli = async (...args: string[]) => {
  const result = await berthCliAsync(configDir, args);
  return result;
};
const cliJson = async <T>(...args: string[]): Promise<T> => {
  const result = await cli(...args, '-o', 'json');
  assert.equal(result.status, 0, `berth ${args.join(' ')}: ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
};
const audit = async (kind: string, target: string) => (await api<AuditEntry[]>(berth.url, adminCredentials, 'GET', `/api/v1/audit?kind=${kind}&target=${encodeURIComponent(target)}&top=100`)).body;

before(async () => {
  // Evaluated every second, so a test waits for the evaluation rather than an hour.
  berth = await startBerth({ env: { BERTH_POLICY_INTERVAL_SECONDS: '1' } });
  client = new OciClient(berth.url);
  configDir = tempDir('policy-cli');
  const login = await berthCliAsync(configDir, ['login', berth.url, '-u', adminCredentials.username, '-p', adminCredentials.password]);
  assert.equal(login.status, 0, login.stderr);
});
after(async () => {
  await berth?.stop();
});

describe('lifecycle policies', () => {
  it('preview shows exactly what the scheduled evaluation then deletes, with the rule for each, and the audit log names the rule', async () => {
    const repository = 'pol/app';
    const pushed: Record<string, { digest: string; size: number }> = {};
    // Pushed oldest first: the newest are the last ones.
    for (const tag of ['release-1', 'release-2', 'release-3', 'dev-1', 'dev-2', 'dev-3', 'dev-4', 'keep-me', 'locked-dev']) pushed[tag] = await client.pushImage(repository, tag);
    const keptSignature = await client.pushSignature(repository, pushed['release-3']!);
    const goneSignature = await client.pushSignature(repository, pushed['dev-1']!);
    const untagged = await pushUntagged(client, repository, { os: 'linux', architecture: 'amd64' });
    const lock = await client.request('PATCH', `/acr/v1/${repository}/_tags/locked-dev`, { body: JSON.stringify({ deleteEnabled: false }), headers: { 'Content-Type': 'application/json' } });
    assert.equal(lock.status, 200);
    // Not matched: the repository pattern is anchored.
    await client.pushImage('pol/app-other', 'dev-1');

    const created = await cliJson<LifecyclePolicy>(
      'policy', 'create', '-n', 'app-cleanup', '--repository', 'pol/app',
      '--keep-newest', '2:^release-', '--keep-newest', '1:^dev-',
      '--delete-tags', '.*', '--older-than', '0d', '--delete-untagged-after', '0d',
      '--exclude', '^keep-', '--status', 'disabled',
    );
    assert.equal(created.status, 'disabled');
    assert.deepEqual(created.rules.keepNewest, [{ count: 2, pattern: '^release-' }, { count: 1, pattern: '^dev-' }]);

    const preview = await cliJson<PolicyEvaluation>('policy', 'preview', '-n', 'app-cleanup');
    assert.equal(preview.dryRun, true);
    assert.deepEqual(preview.policies, ['app-cleanup']);
    assert.ok(preview.nextEvaluationAt && !Number.isNaN(Date.parse(preview.nextEvaluationAt)), 'the schedule is known');
    assert.equal(preview.repositories.length, 1, JSON.stringify(preview));
    const planned = preview.repositories[0]!;
    assert.equal(planned.repository, repository);
    // Per pattern: two release tags and one dev tag stay (a shared count of 3 would keep dev-2..4 and no release).
    assert.deepEqual(planned.tags.map((t) => t.tag).sort(), ['dev-1', 'dev-2', 'dev-3', 'release-1']);
    for (const t of planned.tags) assert.deepEqual([t.policy, t.rule], ['app-cleanup', 'delete-tags ".*" older-than 0d']);
    const goneDigests = [pushed['release-1']!.digest, pushed['dev-1']!.digest, pushed['dev-2']!.digest, pushed['dev-3']!.digest, goneSignature.digest, untagged.digest];
    assert.deepEqual(planned.manifests.map((m) => m.digest).sort(), [...goneDigests].sort());
    assert.deepEqual(planned.manifests.find((m) => m.digest === goneSignature.digest)?.referrerOf, pushed['dev-1']!.digest);
    for (const m of planned.manifests) assert.equal(m.rule, 'delete-untagged-after 0d');
    assert.deepEqual(planned.keptByLock.tags, ['locked-dev']);
    assert.ok(preview.bytesFreed > 0);
    assert.equal(preview.deletedTags, 4);
    assert.equal(preview.deletedManifests, 6);

    // The table names each deletion with its rule, and the bytes.
    const table = await cli('policy', 'preview');
    assert.equal(table.status, 0, table.stderr);
    assert.match(table.stdout, /No enabled policies\./);
    const named = await cli('policy', 'preview', '-n', 'app-cleanup');
    assert.match(named.stdout, new RegExp(`Would delete: ${berth.host}/pol/app:dev-1  \\(policy app-cleanup: delete-tags "\\.\\*" older-than 0d\\)`));
    assert.match(named.stdout, new RegExp(`Would delete: ${berth.host}/pol/app@${goneSignature.digest} .*referrer of ${pushed['dev-1']!.digest}`));
    assert.match(named.stdout, /Kept by a lock: .*pol\/app:locked-dev/);
    assert.match(named.stdout, new RegExp(`Bytes that would be freed \\(after garbage collection\\): ${preview.bytesFreed} `));

    // Disabled, nothing happened; enabled, the next evaluation deletes exactly the preview.
    assert.equal((await tagsOf(client, repository)).length, 9);
    const enabled = await cliJson<LifecyclePolicy>('policy', 'update', '-n', 'app-cleanup', '--status', 'enabled');
    assert.equal(enabled.status, 'enabled');
    assert.deepEqual(enabled.rules, created.rules, 'status alone leaves the rules');
    const remaining = ['dev-4', 'keep-me', 'locked-dev', 'release-2', 'release-3'];
    await waitFor(async () => JSON.stringify((await tagsOf(client, repository)).sort()) === JSON.stringify(remaining), {
      what: 'the scheduled evaluation',
      detail: async () => `tags: ${(await tagsOf(client, repository)).join(', ')}`,
    });
    for (const digest of goneDigests) assert.equal(await manifestStatus(client, repository, digest), 404, digest);
    for (const tag of remaining) assert.equal(await manifestStatus(client, repository, pushed[tag]!.digest), 200, tag);
    assert.equal(await manifestStatus(client, repository, keptSignature.digest), 200, 'the referrer of a kept manifest stays');
    assert.deepEqual(await tagsOf(client, 'pol/app-other'), ['dev-1']);

    const tagEntries = await waitFor(async () => {
      const entries = await audit('policy.tag_deleted', repository);
      return entries.length >= 4 ? entries : null;
    }, { what: 'the tag deletions in the audit log' });
    assert.deepEqual(tagEntries.map((e) => e.detail.tag).sort(), ['dev-1', 'dev-2', 'dev-3', 'release-1']);
    for (const e of tagEntries) {
      assert.equal(e.actor, 'policy:app-cleanup');
      assert.deepEqual([e.detail.policy, e.detail.rule, e.detail.trigger], ['app-cleanup', 'delete-tags ".*" older-than 0d', 'schedule']);
    }
    const manifestEntries = await waitFor(async () => {
      const entries = await audit('policy.manifest_deleted', repository);
      return entries.length >= 6 ? entries : null;
    }, { what: 'the manifest deletions in the audit log' });
    assert.deepEqual(manifestEntries.map((e) => e.detail.digest).sort(), [...goneDigests].sort());
    assert.equal(manifestEntries.find((e) => e.detail.digest === goneSignature.digest)?.detail.referrerOf, pushed['dev-1']!.digest);
    // The registry's own journaled deletions are there too.
    assert.ok((await audit('tag.deleted', repository)).length >= 4);

    // Nothing more to do: the preview is now empty.
    const after = await cliJson<PolicyEvaluation>('policy', 'preview');
    assert.equal(after.deletedTags + after.deletedManifests, 0, JSON.stringify(after));
    const removed = await cli('policy', 'delete', '-n', 'app-cleanup');
    assert.equal(removed.status, 0, removed.stderr);
    assert.equal((await api(berth.url, adminCredentials, 'GET', '/api/v1/policies/app-cleanup')).status, 404);
  });

  it('keep wins across policies matching one repository; run -n evaluates one policy now', async () => {
    const repository = 'pol/shared';
    for (const tag of ['v1', 'v2', 'tmp-1', 'tmp-2']) await client.pushImage(repository, tag);
    const keeper = await api<LifecyclePolicy>(berth.url, adminCredentials, 'POST', '/api/v1/policies', {
      name: 'keep-versions',
      repository: 'pol/shar.*',
      rules: { keepTags: ['^v'], deleteUntaggedAfter: '3650d' },
    });
    assert.equal(keeper.status, 201, JSON.stringify(keeper.body));
    const deleter = await cliJson<LifecyclePolicy>('policy', 'create', '-n', 'delete-all', '--repository', 'pol/shared', '--delete-tags', '.*', '--older-than', '0d', '--status', 'disabled');
    assert.equal(deleter.status, 'disabled');
    const run = await cliJson<PolicyEvaluation>('policy', 'run', '-n', 'delete-all');
    assert.equal(run.dryRun, false);
    assert.deepEqual(run.repositories.map((r) => [r.repository, r.tags.map((t) => t.tag).sort()]), [[repository, ['tmp-1', 'tmp-2']]]);
    assert.deepEqual((await tagsOf(client, repository)).sort(), ['v1', 'v2']);
    const entries = await waitFor(async () => {
      const found = await audit('policy.tag_deleted', repository);
      return found.length >= 2 ? found : null;
    }, { what: 'the manual evaluation in the audit log' });
    for (const e of entries) assert.deepEqual([e.detail.policy, e.detail.trigger], ['delete-all', 'manual']);

    // Rules given to update replace the rules as a whole.
    const updated = await cliJson<LifecyclePolicy>('policy', 'update', '-n', 'delete-all', '--delete-untagged-after', '1d');
    assert.deepEqual(updated.rules.deleteTags, []);
    assert.equal(updated.rules.deleteUntaggedAfter, '1d');
    assert.equal(updated.status, 'disabled');
    const list = await cliJson<LifecyclePolicy[]>('policy', 'list');
    assert.deepEqual(list.map((p) => p.name), ['delete-all', 'keep-versions']);
    const table = await cli('policy', 'show', '-n', 'keep-versions');
    assert.match(table.stdout, /keep-versions\s+enabled\s+pol\/shar\.\*\s+keep-tags "\^v"; delete-untagged-after 3650d/);
    for (const name of ['delete-all', 'keep-versions']) assert.equal((await api(berth.url, adminCredentials, 'DELETE', `/api/v1/policies/${name}`)).status, 204);
  });

  it('bad input is refused with a clear message, in the registry error format and from the CLI', async () => {
    const create = (body: unknown) => api<Envelope>(berth.url, adminCredentials, 'POST', '/api/v1/policies', body);
    const cases: Array<[unknown, RegExp]> = [
      [{ name: 'p1', repository: 'x', rules: { keepTags: ['^v'] } }, /needs a delete rule/],
      [{ name: 'p1', repository: '(', rules: { deleteUntaggedAfter: '1d' } }, /invalid --repository/],
      [{ name: 'p1', repository: 'x', rules: { deleteTags: [{ pattern: '[', olderThan: '1d' }] } }, /invalid --delete-tags pattern "\["/],
      [{ name: 'p1', repository: 'x', rules: { deleteTags: [{ pattern: '.*', olderThan: '7 days' }] } }, /invalid --older-than "7 days"/],
      [{ name: 'p1', repository: 'x', rules: { deleteUntaggedAfter: '1d', keepTag: ['^v'] } }, /unknown rule "keepTag"/],
      [{ name: 'p1', repository: 'x', rules: { deleteUntaggedAfter: '1d', keepNewest: [{ count: 0 }] } }, /count/],
      [{ name: 'no spaces', repository: 'x', rules: { deleteUntaggedAfter: '1d' } }, /invalid policy name/],
      [{ name: 'p1', repository: 'x', status: 'on', rules: { deleteUntaggedAfter: '1d' } }, /enabled, disabled/],
    ];
    for (const [body, message] of cases) {
      const res = await create(body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(res.body.errors[0]!.code, 'INVALID_REQUEST');
      assert.match(res.body.errors[0]!.message, message, JSON.stringify(body));
    }
    assert.equal((await create({ name: 'p1', repository: 'nothing-here', rules: { deleteUntaggedAfter: '1d' } })).status, 201);
    const twice = await create({ name: 'p1', repository: 'nothing-here', rules: { deleteUntaggedAfter: '1d' } });
    assert.equal(twice.status, 409);
    assert.equal((await api<Envelope>(berth.url, adminCredentials, 'PATCH', '/api/v1/policies/missing', { status: 'enabled' })).status, 404);
    assert.equal((await api<Envelope>(berth.url, adminCredentials, 'POST', '/api/v1/policies/preview', { name: 'missing' })).status, 404);

    const badDuration = await cli('policy', 'create', '-n', 'p2', '--repository', 'x', '--delete-untagged-after', '1y');
    assert.notEqual(badDuration.status, 0);
    assert.match(badDuration.stderr, /invalid --delete-untagged-after "1y"/);
    const unpaired = await cli('policy', 'create', '-n', 'p2', '--repository', 'x', '--delete-tags', '.*');
    assert.notEqual(unpaired.status, 0);
    assert.match(unpaired.stderr, /--delete-tags needs --older-than/);
    const keepNewest = await cli('policy', 'create', '-n', 'p2', '--repository', 'x', '--keep-newest', 'five', '--delete-untagged-after', '1d');
    assert.match(keepNewest.stderr, /invalid --keep-newest "five"/);
    const noRepository = await cli('policy', 'create', '-n', 'p2', '--delete-untagged-after', '1d');
    assert.match(noRepository.stderr, /--repository <regex> is required/);
    assert.equal((await api(berth.url, adminCredentials, 'DELETE', '/api/v1/policies/p1')).status, 204);
  });
});
