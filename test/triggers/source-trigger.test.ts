import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { adminCredentials, startBerth, tempDir, type BerthProcess } from '../helpers/berth-process.js';
import { api } from '../helpers/management.js';
import { createRepository, pushCommit, startGitServer, type GitServer } from '../helpers/git-server.js';
import { berthCliAsync } from '../helpers/task-helpers.js';
import { waitFor } from '../helpers/wait.js';

/**
 * The commit trigger with a real git server and a server without an agent (runs stay queued, so
 * what is asserted is exactly what the trigger queued): push webhooks of each provider, the
 * verdict of every event, and the branch-head poll for servers that cannot call in.
 */
interface RunView {
  id: string;
  taskName: string;
  trigger: string;
  spec: { commit?: string; branch?: string };
  sourceTrigger?: { eventType: string; provider: string; branch: string; commit: string };
}
interface SourceEventView {
  provider: string;
  verdict: string;
  runId: string | null;
  commit: string | null;
}

const zeros = '0'.repeat(40);
const githubPush = (repoUrl: string, branch: string, after: string, before = zeros) => ({
  ref: `refs/heads/${branch}`,
  before,
  after,
  deleted: after === zeros,
  repository: { full_name: 'org/app', clone_url: repoUrl, html_url: repoUrl.replace(/\.git$/, ''), default_branch: 'main' },
  head_commit: after === zeros ? null : { id: after, message: 'change' },
  pusher: { name: 'dev' },
});

describe('commit trigger (push webhooks and branch-head polling)', () => {
  let berth: BerthProcess;
  let git: GitServer;
  let repoUrl: string;
  let first: string;
  let secret: string;
  const call = <T>(method: string, path: string, body?: unknown) => api<T>(berth.url, adminCredentials, method, path, body);
  const runsOf = async (task: string) => (await call<RunView[]>('GET', `/api/v1/runs?task=${task}&top=100`)).body.filter((r) => r.taskName === task);
  const deliver = (task: string, headers: Record<string, string>, body: string) =>
    fetch(`${berth.url}/api/v1/tasks/${task}/source-webhook`, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body });
  const github = (task: string, payload: object, delivery: string, key = secret) => {
    const body = JSON.stringify(payload);
    const signature = `sha256=${createHmac('sha256', key).update(body).digest('hex')}`;
    return deliver(task, { 'X-GitHub-Event': 'push', 'X-GitHub-Delivery': delivery, 'X-Hub-Signature-256': signature }, body);
  };

  before(async () => {
    git = await startGitServer('git-token');
    first = (await createRepository(git, 'app', 'main', { 'Dockerfile': 'FROM scratch\n' })).commit;
    repoUrl = `${git.url}/git/app.git`;
    berth = await startBerth({ env: { BERTH_LOCAL_AGENT: 'false' } });
    const created = await call<{ webhookSecret: string; triggerKinds: string[]; sourceWebhookPath: string }>('POST', '/api/v1/tasks', { name: 'app-build', command: 'busybox true', contextUrl: `${repoUrl}#main` });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    secret = created.body.webhookSecret;
    assert.match(secret, /^[0-9a-f]{64}$/, 'the webhook secret is shown once, at creation');
    assert.deepEqual(created.body.triggerKinds, ['BASE_IMAGE', 'SOURCE']);
    const shown = await call<Record<string, unknown>>('GET', '/api/v1/tasks/app-build');
    assert.ok(!JSON.stringify(shown.body).includes(secret), 'never shown again');
  });
  after(async () => {
    await berth?.stop();
    await git?.close();
  });

  it('a signed push to the branch queues one run pinned to the pushed commit; redeliveries, other branches, deletions and bad signatures queue nothing', async () => {
    const commit = await pushCommit(git, 'app', 'main', { 'README.md': 'one\n' });
    const accepted = await github('app-build', githubPush(repoUrl, 'main', commit, first), 'delivery-1');
    assert.equal(accepted.status, 200);
    const verdict = (await accepted.json()) as { verdict: string; runId: string };
    assert.equal(verdict.verdict, 'queued');
    const [run] = await runsOf('app-build');
    assert.equal(run!.id, verdict.runId);
    assert.equal(run!.trigger, 'Commit');
    assert.equal(run!.spec.commit, commit, 'the run checks out exactly the pushed commit');
    assert.equal(run!.spec.branch, 'main');
    assert.deepEqual({ ...run!.sourceTrigger, repositoryUrl: undefined, id: undefined }, { eventType: 'Commit', provider: 'github', branch: 'main', commit, repositoryUrl: undefined, id: undefined });

    const verdictOf = async (res: Response) => {
      const body = (await res.json()) as { verdict?: string; errors?: Array<{ code: string }> };
      return body.verdict ?? body.errors?.[0]?.code;
    };
    // The same delivery again, and the same commit under a new delivery id: one run.
    assert.equal(await verdictOf(await github('app-build', githubPush(repoUrl, 'main', commit, first), 'delivery-1')), 'duplicate');
    assert.equal(await verdictOf(await github('app-build', githubPush(repoUrl, 'main', commit, first), 'delivery-2')), 'duplicate');
    assert.equal(await verdictOf(await github('app-build', githubPush(repoUrl, 'feature', commit), 'delivery-3')), 'other-branch');
    assert.equal(await verdictOf(await github('app-build', githubPush(repoUrl, 'main', zeros, commit), 'delivery-4')), 'branch-deleted');
    const forged = await github('app-build', githubPush(repoUrl, 'main', 'f'.repeat(40)), 'delivery-5', 'not-the-secret');
    assert.equal(forged.status, 401);
    assert.equal(await verdictOf(forged), 'UNAUTHORIZED');
    const unsigned = await deliver('app-build', { 'X-GitHub-Event': 'push', 'X-GitHub-Delivery': 'delivery-6' }, JSON.stringify(githubPush(repoUrl, 'main', 'e'.repeat(40))));
    assert.equal(unsigned.status, 401);
    assert.equal((await runsOf('app-build')).length, 1);

    // GitLab's form: the token header, compared in constant time.
    const second = await pushCommit(git, 'app', 'main', { 'README.md': 'two\n' });
    const gitlabBody = JSON.stringify({ object_kind: 'push', ref: 'refs/heads/main', before: commit, after: second, checkout_sha: second, project: { git_http_url: repoUrl, default_branch: 'main' }, repository: { git_http_url: repoUrl } });
    const gitlab = await deliver('app-build', { 'X-Gitlab-Event': 'Push Hook', 'X-Gitlab-Token': secret, 'X-Gitlab-Event-UUID': 'gl-1' }, gitlabBody);
    assert.equal(await verdictOf(gitlab), 'queued');
    // One hex digit changed (to another: a secret ending in 0 made the "wrong" token the right one).
    const wrongDigit = secret.endsWith('0') ? '1' : '0';
    const wrongToken = await deliver('app-build', { 'X-Gitlab-Event': 'Push Hook', 'X-Gitlab-Token': `${secret.slice(0, -1)}${wrongDigit}`, 'X-Gitlab-Event-UUID': 'gl-2' }, gitlabBody);
    assert.equal(wrongToken.status, 401);
    assert.equal((await runsOf('app-build')).length, 2);

    // "Why didn't my build trigger?": every event with its verdict, newest first.
    const config = tempDir('source-cli');
    assert.equal((await berthCliAsync(config, ['login', berth.url, '-u', 'admin', '-p', adminCredentials.password])).status, 0);
    const listed = await berthCliAsync(config, ['task', 'list-source-events', '-n', 'app-build', '-o', 'json']);
    assert.equal(listed.status, 0, listed.stderr);
    const events = JSON.parse(listed.stdout) as SourceEventView[];
    assert.deepEqual(
      events.map((e) => [e.provider, e.verdict]).reverse(),
      [['github', 'queued'], ['github', 'duplicate'], ['github', 'duplicate'], ['github', 'other-branch'], ['github', 'branch-deleted'], ['github', 'bad-signature'], ['github', 'bad-signature'], ['gitlab', 'queued'], ['gitlab', 'bad-signature']],
    );
    const table = await berthCliAsync(config, ['task', 'list-source-events', '-n', 'app-build']);
    assert.match(table.stdout, /VERDICT/);
    assert.match(table.stdout, new RegExp(`queued ${verdict.runId}\\b`));
  });

  it('polls the branch head of a server that cannot call in: one run per new commit, none for the commit it first saw', async () => {
    await createRepository(git, 'polled', 'trunk', { 'Dockerfile': 'FROM scratch\n' });
    const created = await call('POST', '/api/v1/tasks', { name: 'polled-build', command: 'busybox true', contextUrl: `${git.url}/git/polled.git#trunk`, commitTriggerPollInterval: 5 });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    // The first look only learns where the branch is: push once it has surely been answered
    // (a second poll has begun), or the first look could already see the new commit.
    const refs = () => git.requests.filter((r) => r.includes('/git/polled.git/info/refs')).length;
    await waitFor(async () => refs() >= 2, { what: 'the first poll to be over', timeoutMs: 30_000 });
    const commit = await pushCommit(git, 'polled', 'trunk', { 'a.txt': 'a\n' });
    const run = await waitFor(async () => (await runsOf('polled-build'))[0] ?? null, { what: 'the poll to see the new commit', timeoutMs: 60_000 });
    assert.equal(run.trigger, 'Commit');
    assert.equal(run.spec.commit, commit);
    assert.equal(run.sourceTrigger?.provider, 'poll');
    const polls = git.requests.filter((r) => r.includes('/git/polled.git/info/refs')).length;
    await waitFor(async () => git.requests.filter((r) => r.includes('/git/polled.git/info/refs')).length > polls, { what: 'another poll', timeoutMs: 30_000 });
    assert.equal((await runsOf('polled-build')).length, 1, 'an unchanged head runs nothing');
  });
});
