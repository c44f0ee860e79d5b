import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { decideTrigger, generateWebhookSecret, verifySourceWebhook, type SourceEvent, type WebhookVerdict } from '../../src/triggers/source-webhooks.js';

const secret = 'a1b2c3-task-secret';
const zeros = '0000000000000000000000000000000000000000';
const before = '95790bf891e76fee5e1747ab589903a6a1f80f22';
const after = 'da1560886d4f094c3e6c9ef40349f7d38b5d27d7';
const hmac = (body: Buffer, key = secret) => createHmac('sha256', key).update(body).digest('hex');
const bytes = (payload: unknown) => Buffer.from(JSON.stringify(payload, null, 2));

// Modeled on each provider's documented push payload, trimmed to the fields Berth reads plus a few it ignores.
const githubPush = (overrides: Record<string, unknown> = {}) => ({
  ref: 'refs/heads/main',
  before,
  after,
  created: false,
  deleted: false,
  forced: false,
  compare: 'https://github.com/octo-org/app/compare/95790bf891e7...da1560886d4f',
  commits: [{ id: after, message: 'Fix the build', author: { name: 'Octo Cat', email: 'octo@example.com' } }],
  head_commit: { id: after, message: 'Fix the build' },
  repository: {
    id: 1296269,
    name: 'app',
    full_name: 'octo-org/app',
    html_url: 'https://github.com/octo-org/app',
    clone_url: 'https://github.com/octo-org/app.git',
    ssh_url: 'git@github.com:octo-org/app.git',
    default_branch: 'main',
  },
  pusher: { name: 'octocat', email: 'octo@example.com' },
  sender: { login: 'octocat', id: 1 },
  ...overrides,
});

const giteaPush = (overrides: Record<string, unknown> = {}) => ({
  ref: 'refs/heads/develop',
  before,
  after,
  compare_url: 'https://gitea.example.com/team/app/compare/95790bf...da15608',
  commits: [{ id: after, message: 'Update Dockerfile\n', url: `https://gitea.example.com/team/app/commit/${after}` }],
  total_commits: 1,
  head_commit: { id: after },
  repository: {
    id: 12,
    name: 'app',
    full_name: 'team/app',
    html_url: 'https://gitea.example.com/team/app',
    clone_url: 'https://gitea.example.com/team/app.git',
    ssh_url: 'git@gitea.example.com:team/app.git',
    default_branch: 'develop',
  },
  pusher: { login: 'dev', id: 3 },
  sender: { login: 'dev', id: 3 },
  ...overrides,
});

const gitlabPush = (overrides: Record<string, unknown> = {}) => ({
  object_kind: 'push',
  event_name: 'push',
  before,
  after,
  ref: 'refs/heads/main',
  ref_protected: true,
  checkout_sha: after,
  user_id: 4,
  user_name: 'John Smith',
  project_id: 15,
  project: {
    id: 15,
    name: 'Diaspora',
    web_url: 'https://gitlab.example.com/mike/diaspora',
    git_ssh_url: 'git@gitlab.example.com:mike/diaspora.git',
    git_http_url: 'https://gitlab.example.com/mike/diaspora.git',
    path_with_namespace: 'mike/diaspora',
    default_branch: 'master',
  },
  commits: [{ id: after, message: 'Update Catalan translation to e38cb41.', timestamp: '2011-12-12T14:27:31+02:00' }],
  total_commits_count: 1,
  repository: {
    name: 'Diaspora',
    url: 'git@gitlab.example.com:mike/diaspora.git',
    homepage: 'https://gitlab.example.com/mike/diaspora',
    git_http_url: 'https://gitlab.example.com/mike/diaspora.git',
    git_ssh_url: 'git@gitlab.example.com:mike/diaspora.git',
  },
  ...overrides,
});

const githubHeaders = (body: Buffer, event = 'push') => ({
  'x-github-event': event,
  'x-github-delivery': '72d3162e-cc78-11e3-81ab-4c9367dc0958',
  'x-hub-signature-256': `sha256=${hmac(body)}`,
  'content-type': 'application/json',
  'user-agent': 'GitHub-Hookshot/044aadd',
});

function event(verdict: WebhookVerdict): SourceEvent {
  if (!verdict.ok) assert.fail(`expected a verified event, got ${verdict.reason}: ${verdict.detail}`);
  return verdict.event;
}

function rejected(verdict: WebhookVerdict): string {
  assert.equal(verdict.ok, false, 'expected a rejection');
  return verdict.ok ? '' : verdict.reason;
}

describe('source webhooks: verification', () => {
  it('GitHub: sha256= HMAC over the raw body; delivery id, URLs, branch and commit', () => {
    const body = bytes(githubPush());
    const e = event(verifySourceWebhook(githubHeaders(body), body, secret));
    assert.equal(e.provider, 'github');
    assert.equal(e.kind, 'push');
    assert.equal(e.deliveryId, '72d3162e-cc78-11e3-81ab-4c9367dc0958');
    assert.deepEqual(e.repositoryUrls, ['https://github.com/octo-org/app.git', 'https://github.com/octo-org/app', 'git@github.com:octo-org/app.git']);
    assert.equal(e.ref, 'refs/heads/main');
    assert.equal(e.branch, 'main');
    assert.equal(e.tag, null);
    assert.equal(e.commit, after);
    assert.equal(e.before, before);
    assert.equal(e.deleted, false);
    assert.equal(decideTrigger(e, { contextUrl: 'https://github.com/octo-org/app.git#main' }), 'fire');
  });

  it('GitHub: header names in any case, and an upper-case hex signature, verify', () => {
    const body = bytes(githubPush());
    const headers = { 'X-GitHub-Event': 'push', 'X-Hub-Signature-256': `sha256=${hmac(body).toUpperCase()}` };
    assert.equal(event(verifySourceWebhook(headers, body, secret)).provider, 'github');
  });

  it('Gitea: bare hex HMAC in X-Gitea-Signature, even beside the GitHub-compatible headers it also sends', () => {
    const body = bytes(giteaPush());
    const headers = {
      'x-gitea-event': 'push',
      'x-gitea-delivery': 'f6266f16-1bf3-46a5-9ea4-602e06ead473',
      'x-gitea-signature': hmac(body),
      'x-github-event': 'push',
      'x-hub-signature-256': 'sha256=not-what-gitea-is-checked-by',
    };
    const e = event(verifySourceWebhook(headers, body, secret));
    assert.equal(e.provider, 'gitea');
    assert.equal(e.deliveryId, 'f6266f16-1bf3-46a5-9ea4-602e06ead473');
    assert.equal(e.branch, 'develop');
    assert.equal(e.repositoryUrls[0], 'https://gitea.example.com/team/app.git');
    // No branch in the context: the repository's default branch, as the payload names it, fires.
    assert.equal(decideTrigger(e, { contextUrl: 'https://gitea.example.com/team/app.git' }), 'fire');
  });

  it('Forgejo: X-Forgejo-Signature, recognised before the Gitea headers it also sends', () => {
    const body = bytes(giteaPush({ ref: 'refs/heads/main' }));
    const headers = { 'x-forgejo-event': 'push', 'x-forgejo-delivery': 'fj-1', 'x-forgejo-signature': hmac(body), 'x-gitea-event': 'push', 'x-gitea-signature': hmac(body) };
    const e = event(verifySourceWebhook(headers, body, secret));
    assert.equal(e.provider, 'forgejo');
    assert.equal(e.deliveryId, 'fj-1');
    assert.equal(rejected(verifySourceWebhook({ ...headers, 'x-forgejo-signature': hmac(body, 'other') }, body, secret)), 'bad-signature');
  });

  it('GitLab: X-Gitlab-Token compared with the secret; the event UUID (or webhook UUID) is the delivery id', () => {
    const body = bytes(gitlabPush());
    const headers = { 'x-gitlab-event': 'Push Hook', 'x-gitlab-token': secret, 'x-gitlab-event-uuid': '13792a34-cac6-4fda-95a8-c58e00a3954e', 'x-gitlab-instance': 'https://gitlab.example.com' };
    const e = event(verifySourceWebhook(headers, body, secret));
    assert.equal(e.provider, 'gitlab');
    assert.equal(e.deliveryId, '13792a34-cac6-4fda-95a8-c58e00a3954e');
    assert.deepEqual(e.repositoryUrls, ['https://gitlab.example.com/mike/diaspora.git', 'git@gitlab.example.com:mike/diaspora.git', 'https://gitlab.example.com/mike/diaspora']);
    assert.equal(e.defaultBranch, 'master');
    assert.equal(decideTrigger(e, { contextUrl: 'https://gitlab.example.com/mike/diaspora.git#main' }), 'fire');
    // The project's default branch is master, so a context without a branch does not fire on main.
    assert.equal(decideTrigger(e, { contextUrl: 'https://gitlab.example.com/mike/diaspora.git' }), 'other-branch');

    const { 'x-gitlab-event-uuid': _, ...older } = headers;
    assert.equal(event(verifySourceWebhook({ ...older, 'x-gitlab-webhook-uuid': 'hook-uuid' }, body, secret)).deliveryId, 'hook-uuid');
  });

  it('GitLab: a wrong token, a token that is a prefix of the secret, or a longer one fail', () => {
    const body = bytes(gitlabPush());
    for (const token of ['wrong', secret.slice(0, -1), `${secret}x`, secret.toUpperCase()]) {
      assert.equal(rejected(verifySourceWebhook({ 'x-gitlab-event': 'Push Hook', 'x-gitlab-token': token }, body, secret)), 'bad-signature', token);
    }
  });

  it('generic: X-Berth-Signature-256 over the body; deliveryId from the body', () => {
    const body = bytes({ repository: 'http://127.0.0.1:9418/app.git', ref: 'refs/heads/main', after, deliveryId: 'ci-77' });
    const e = event(verifySourceWebhook({ 'x-berth-signature-256': `sha256=${hmac(body)}` }, body, secret));
    assert.equal(e.provider, 'generic');
    assert.equal(e.deliveryId, 'ci-77');
    assert.deepEqual(e.repositoryUrls, ['http://127.0.0.1:9418/app.git']);
    assert.equal(e.defaultBranch, null);
    assert.equal(decideTrigger(e, { contextUrl: 'http://127.0.0.1:9418/app.git' }), 'fire', 'main when nothing names a branch');
    const noRepository = bytes({ ref: 'refs/heads/main', after });
    assert.equal(rejected(verifySourceWebhook({ 'x-berth-signature-256': `sha256=${hmac(noRepository)}` }, noRepository, secret)), 'bad-payload');
  });

  it('a signature made over a different body fails', () => {
    const signed = bytes(githubPush());
    const sent = bytes(githubPush({ after: before }));
    assert.equal(rejected(verifySourceWebhook(githubHeaders(signed), sent, secret)), 'bad-signature');
    // Re-serialising the same JSON differently is a different body too: verification is over bytes.
    const compact = Buffer.from(JSON.stringify(githubPush()));
    assert.equal(rejected(verifySourceWebhook(githubHeaders(signed), compact, secret)), 'bad-signature');
    assert.equal(rejected(verifySourceWebhook(githubHeaders(signed), signed, 'another secret')), 'bad-signature');
  });

  it('signatures of another length, truncated, not hex or without the prefix fail without throwing', () => {
    const body = bytes(githubPush());
    const good = hmac(body);
    for (const signature of [`sha256=${good.slice(0, 40)}`, `sha256=${good}00`, `sha256=${good.slice(0, -1)}`, good, 'sha256=zz', 'sha1=abc', `sha256=${'é'.repeat(64)}`]) {
      assert.equal(rejected(verifySourceWebhook({ 'x-github-event': 'push', 'x-hub-signature-256': signature }, body, secret)), 'bad-signature', signature);
    }
    assert.equal(rejected(verifySourceWebhook({ 'x-gitea-event': 'push', 'x-gitea-signature': good.slice(2) }, body, secret)), 'bad-signature');
  });

  it('a missing signature header, an empty one, no known provider, an empty secret and a body that is not JSON are refused', () => {
    const body = bytes(githubPush());
    assert.equal(rejected(verifySourceWebhook({ 'x-github-event': 'push' }, body, secret)), 'missing-signature');
    assert.equal(rejected(verifySourceWebhook({ 'x-github-event': 'push', 'x-hub-signature-256': '' }, body, secret)), 'missing-signature');
    assert.equal(rejected(verifySourceWebhook({ 'x-gitea-event': 'push' }, body, secret)), 'missing-signature');
    assert.equal(rejected(verifySourceWebhook({ 'x-gitlab-event': 'Push Hook' }, body, secret)), 'missing-signature');
    assert.equal(rejected(verifySourceWebhook({ 'content-type': 'application/json' }, body, secret)), 'unknown-provider');
    assert.equal(rejected(verifySourceWebhook({ 'x-github-event': 'push', 'x-hub-signature-256': `sha256=${createHmac('sha256', '').update(body).digest('hex')}` }, body, '')), 'bad-signature');
    const notJson = Buffer.from('payload=%7B%7D');
    assert.equal(rejected(verifySourceWebhook(githubHeaders(notJson), notJson, secret)), 'bad-payload');
    const noRef = bytes({ repository: {} });
    assert.equal(rejected(verifySourceWebhook(githubHeaders(noRef), noRef, secret)), 'bad-payload');
  });
});

describe('source webhooks: which events fire', () => {
  const context = { contextUrl: 'https://github.com/octo-org/app.git#main' };
  const verified = (payload: unknown, name = 'push') => {
    const body = bytes(payload);
    return event(verifySourceWebhook(githubHeaders(body, name), body, secret));
  };

  it('a branch delete (all-zero after, deleted: true) fires nothing', () => {
    const e = verified(githubPush({ after: zeros, deleted: true, head_commit: null }));
    assert.equal(e.deleted, true);
    assert.equal(decideTrigger(e, context), 'branch-deleted');
    const gitlabBody = bytes(gitlabPush({ after: zeros, checkout_sha: null }));
    const gitlabDelete = event(verifySourceWebhook({ 'x-gitlab-event': 'Push Hook', 'x-gitlab-token': secret }, gitlabBody, secret));
    assert.equal(gitlabDelete.deleted, true, 'all-zero after alone marks a delete');
    assert.equal(decideTrigger(gitlabDelete, { contextUrl: 'https://gitlab.example.com/mike/diaspora.git#main' }), 'branch-deleted');
  });

  it('a tag push is not a branch push', () => {
    const e = verified(githubPush({ ref: 'refs/tags/v1.2.0' }));
    assert.equal(e.branch, null);
    assert.equal(e.tag, 'v1.2.0');
    assert.equal(decideTrigger(e, context), 'tag-push');
    const body = bytes(gitlabPush({ object_kind: 'tag_push', ref: 'refs/tags/v1.2.0' }));
    const gitlabTag = event(verifySourceWebhook({ 'x-gitlab-event': 'Tag Push Hook', 'x-gitlab-token': secret }, body, secret));
    assert.equal(decideTrigger(gitlabTag, { contextUrl: 'https://gitlab.example.com/mike/diaspora.git#main' }), 'tag-push');
  });

  it('another branch fires nothing; the context branch may be written refs/heads/X; a branch named like a prefix does not match', () => {
    assert.equal(decideTrigger(verified(githubPush({ ref: 'refs/heads/feature/x' })), context), 'other-branch');
    assert.equal(decideTrigger(verified(githubPush({ ref: 'refs/heads/main-old' })), context), 'other-branch');
    assert.equal(decideTrigger(verified(githubPush({ ref: 'refs/heads/release/1.0' })), { contextUrl: 'https://github.com/octo-org/app.git#release/1.0:docker' }), 'fire');
    assert.equal(decideTrigger(verified(githubPush()), { contextUrl: 'https://github.com/octo-org/app.git#refs/heads/main' }), 'fire');
  });

  it('ping is verified and recorded, never fires', () => {
    const e = verified({ zen: 'Keep it logically awesome.', hook_id: 30, hook: { type: 'Repository', events: ['push'] }, repository: githubPush().repository }, 'ping');
    assert.equal(e.kind, 'ping');
    assert.equal(decideTrigger(e, context), 'ping');
  });

  it('pull requests: their head commit and branch; they fire only with the pull-request trigger on, for the context branch', () => {
    const payload = {
      action: 'synchronize',
      number: 42,
      pull_request: { number: 42, head: { ref: 'feature/login', sha: before, repo: { clone_url: 'https://github.com/fork/app.git' } }, base: { ref: 'main', sha: after } },
      repository: githubPush().repository,
    };
    const e = verified(payload, 'pull_request');
    assert.equal(e.kind, 'pull-request');
    assert.deepEqual(e.pullRequest, { action: 'synchronize', number: 42, headBranch: 'feature/login', headCommit: before, baseBranch: 'main' });
    assert.equal(decideTrigger(e, context), 'not-a-push');
    assert.equal(decideTrigger(e, { ...context, pullRequests: true }), 'fire-pull-request');
    assert.equal(decideTrigger(verified({ ...payload, action: 'closed' }, 'pull_request'), { ...context, pullRequests: true }), 'not-a-push');
    assert.equal(decideTrigger(verified({ ...payload, pull_request: { ...payload.pull_request, base: { ref: 'develop' } } }, 'pull_request'), { ...context, pullRequests: true }), 'other-branch');
  });

  it('other events (issues, release, delete) are verified but are not pushes', () => {
    const e = verified({ action: 'opened', issue: { number: 1 }, repository: githubPush().repository }, 'issues');
    assert.equal(e.kind, 'other');
    assert.equal(e.eventName, 'issues');
    assert.equal(decideTrigger(e, context), 'not-a-push');
  });

  it('generateWebhookSecret: 32 random bytes in hex, different each time', () => {
    const a = generateWebhookSecret();
    assert.match(a, /^[0-9a-f]{64}$/);
    assert.notEqual(a, generateWebhookSecret());
  });
});
