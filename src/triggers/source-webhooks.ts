import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { parseSourceLocation } from '../tasks/sources/remote-source.js';

/**
 * Push webhooks from git hosts, verified and read without any I/O: the receiving route hands in
 * the headers, the raw body and the task's secret, and gets a verdict it can record and act on.
 * Every provider signs (or authenticates) the exact bytes sent, so nothing here looks at a body
 * before its signature has been checked.
 */

export type SourceProvider = 'github' | 'gitea' | 'forgejo' | 'gitlab' | 'generic';

export type SourceEventKind = 'push' | 'ping' | 'pull-request' | 'other';

export interface PullRequestDetails {
  /** As the provider names it: opened, synchronize, reopened, closed (GitLab: open, update, ...). */
  action: string;
  number: number | null;
  headBranch: string | null;
  headCommit: string | null;
  baseBranch: string | null;
}

export interface SourceEvent {
  provider: SourceProvider;
  kind: SourceEventKind;
  /** The provider's event name as sent (`push`, `Push Hook`, `Tag Push Hook`, `pull_request`, ...). */
  eventName: string;
  /** The provider's id of this delivery (the same on a redelivery), when it sends one. */
  deliveryId: string | null;
  /** Every URL the payload gives for the repository (clone, web, ssh), first the clone URL. */
  repositoryUrls: string[];
  /** The repository's default branch when the payload says it (GitHub, Gitea, GitLab do). */
  defaultBranch: string | null;
  ref: string | null;
  /** From `refs/heads/X`; a tag push has none. */
  branch: string | null;
  /** From `refs/tags/X`. */
  tag: string | null;
  /** The commit the ref points at after the push (all zeros when it was deleted). */
  commit: string | null;
  before: string | null;
  deleted: boolean;
  pullRequest: PullRequestDetails | null;
}

export type WebhookRejection = 'bad-signature' | 'missing-signature' | 'unknown-provider' | 'bad-payload';

export type WebhookVerdict = { ok: true; event: SourceEvent } | { ok: false; reason: WebhookRejection; provider: SourceProvider | null; detail: string };

export type Headers = Record<string, string | string[] | undefined>;

/** A new per-task secret: 32 random bytes, hex (every host's secret field takes hex). */
export function generateWebhookSecret(): string {
  return randomBytes(32).toString('hex');
}

interface ProviderRule {
  provider: SourceProvider;
  eventHeader: string | null;
  deliveryHeaders: string[];
  /** How the caller proves it knows the secret. */
  proof: { kind: 'hmac'; header: string; prefix: string } | { kind: 'token'; header: string };
}

// Order matters: Forgejo also sends the X-Gitea-* and X-GitHub-* headers, and Gitea the
// X-GitHub-* ones, for compatibility; the most specific provider is recognised first.
const providers: ProviderRule[] = [
  { provider: 'forgejo', eventHeader: 'x-forgejo-event', deliveryHeaders: ['x-forgejo-delivery', 'x-gitea-delivery'], proof: { kind: 'hmac', header: 'x-forgejo-signature', prefix: '' } },
  { provider: 'gitea', eventHeader: 'x-gitea-event', deliveryHeaders: ['x-gitea-delivery'], proof: { kind: 'hmac', header: 'x-gitea-signature', prefix: '' } },
  { provider: 'gitlab', eventHeader: 'x-gitlab-event', deliveryHeaders: ['x-gitlab-event-uuid', 'x-gitlab-webhook-uuid'], proof: { kind: 'token', header: 'x-gitlab-token' } },
  { provider: 'github', eventHeader: 'x-github-event', deliveryHeaders: ['x-github-delivery'], proof: { kind: 'hmac', header: 'x-hub-signature-256', prefix: 'sha256=' } },
  { provider: 'generic', eventHeader: null, deliveryHeaders: ['x-berth-delivery'], proof: { kind: 'hmac', header: 'x-berth-signature-256', prefix: 'sha256=' } },
];

function header(headers: Headers, name: string): string | null {
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== name) continue;
    const text = Array.isArray(value) ? value[0] : value;
    return text === undefined ? null : text.trim();
  }
  return null;
}

function detect(headers: Headers): ProviderRule | null {
  return providers.find((p) => header(headers, p.eventHeader ?? p.proof.header) !== null) ?? null;
}

/**
 * Equal in constant time whatever the inputs: both sides are hashed first, so the buffers
 * compared always have the same length, and a wrong length or prefix takes as long as a wrong
 * last character (and a GitLab token's length is not told either).
 */
function sameSecret(given: string, expected: string): boolean {
  const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();
  return timingSafeEqual(digest(given), digest(expected));
}

function proves(rule: ProviderRule, given: string, body: Buffer, secret: string): boolean {
  if (rule.proof.kind === 'token') return sameSecret(given, secret);
  const expected = rule.proof.prefix + createHmac('sha256', secret).update(body).digest('hex');
  // Hex is case-insensitive; lowering the given value says nothing about the expected one.
  return sameSecret(given.toLowerCase(), expected);
}

/** Verifies a push webhook over its raw body and reads the event it carries. */
export function verifySourceWebhook(headers: Headers, body: Buffer, secret: string): WebhookVerdict {
  const rule = detect(headers);
  if (!rule) return { ok: false, reason: 'unknown-provider', provider: null, detail: 'no GitHub, Gitea, Forgejo, GitLab or X-Berth-Signature-256 header' };
  const given = header(headers, rule.proof.header);
  if (given === null || given === '') return { ok: false, reason: 'missing-signature', provider: rule.provider, detail: `no ${rule.proof.header} header` };
  if (secret === '' || !proves(rule, given, body, secret)) {
    return { ok: false, reason: 'bad-signature', provider: rule.provider, detail: `${rule.proof.header} does not match the task's webhook secret` };
  }
  let payload: unknown;
  try {
    payload = JSON.parse(body.toString('utf8'));
  } catch {
    return { ok: false, reason: 'bad-payload', provider: rule.provider, detail: 'the body is not JSON' };
  }
  if (!isObject(payload)) return { ok: false, reason: 'bad-payload', provider: rule.provider, detail: 'the body is not a JSON object' };
  const eventName = rule.eventHeader ? header(headers, rule.eventHeader)! : 'push';
  const deliveryId = rule.deliveryHeaders.map((h) => header(headers, h)).find((v) => v) ?? null;
  const read = readers[rule.provider](eventName, payload);
  if (typeof read === 'string') return { ok: false, reason: 'bad-payload', provider: rule.provider, detail: read };
  return { ok: true, event: { provider: rule.provider, eventName, deliveryId: read.deliveryId ?? deliveryId, ...read.event } };
}

type Json = Record<string, unknown>;
type EventBody = Omit<SourceEvent, 'provider' | 'eventName' | 'deliveryId'>;
type Reader = (eventName: string, payload: Json) => { event: EventBody; deliveryId?: string | null } | string;

const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);
const text = (value: unknown): string | null => (typeof value === 'string' && value !== '' ? value : null);
const object = (value: unknown): Json => (isObject(value) ? value : {});
const urls = (...values: unknown[]): string[] => [...new Set(values.map(text).filter((v): v is string => v !== null))];
const allZeros = (sha: string | null) => sha !== null && /^0+$/.test(sha);

function refParts(ref: string | null): { branch: string | null; tag: string | null } {
  if (ref?.startsWith('refs/heads/')) return { branch: ref.slice('refs/heads/'.length), tag: null };
  if (ref?.startsWith('refs/tags/')) return { branch: null, tag: ref.slice('refs/tags/'.length) };
  return { branch: null, tag: null };
}

const empty = { ref: null, branch: null, tag: null, commit: null, before: null, deleted: false, pullRequest: null };

function push(payload: Json, repositoryUrls: string[], defaultBranch: string | null): EventBody | string {
  const ref = text(payload.ref);
  const commit = text(payload.after);
  if (ref === null || commit === null) return 'a push payload needs "ref" and "after"';
  return { kind: 'push', repositoryUrls, defaultBranch, ref, ...refParts(ref), commit, before: text(payload.before), deleted: payload.deleted === true || allZeros(commit), pullRequest: null };
}

/** GitHub, Gitea and Forgejo share GitHub's payload shapes. */
function githubLike(eventName: string, payload: Json): { event: EventBody } | string {
  const repository = object(payload.repository);
  const repositoryUrls = urls(repository.clone_url, repository.html_url, repository.ssh_url);
  const defaultBranch = text(repository.default_branch);
  const base = { repositoryUrls, defaultBranch };
  if (eventName === 'push') {
    const event = push(payload, repositoryUrls, defaultBranch);
    return typeof event === 'string' ? event : { event };
  }
  if (eventName === 'ping') return { event: { kind: 'ping', ...base, ...empty } };
  if (eventName === 'pull_request') {
    const pr = object(payload.pull_request);
    const head = object(pr.head);
    const baseRef = object(pr.base);
    const pullRequest = {
      action: text(payload.action) ?? 'unknown',
      number: typeof payload.number === 'number' ? payload.number : typeof pr.number === 'number' ? pr.number : null,
      headBranch: text(head.ref),
      headCommit: text(head.sha),
      baseBranch: text(baseRef.ref),
    };
    return { event: { kind: 'pull-request', ...base, ...empty, pullRequest } };
  }
  return { event: { kind: 'other', ...base, ...empty } };
}

function gitlab(eventName: string, payload: Json): { event: EventBody } | string {
  const project = object(payload.project);
  const repository = object(payload.repository);
  const repositoryUrls = urls(project.git_http_url, repository.git_http_url, project.git_ssh_url, repository.git_ssh_url, project.web_url, repository.homepage);
  const defaultBranch = text(project.default_branch);
  const base = { repositoryUrls, defaultBranch };
  // A tag push is a push of a tag ref: read it as one, so the decision says "tag-push".
  if (eventName === 'Push Hook' || eventName === 'Tag Push Hook') {
    const event = push(payload, repositoryUrls, defaultBranch);
    return typeof event === 'string' ? event : { event };
  }
  if (eventName === 'Merge Request Hook') {
    const attributes = object(payload.object_attributes);
    const pullRequest = {
      action: text(attributes.action) ?? 'unknown',
      number: typeof attributes.iid === 'number' ? attributes.iid : null,
      headBranch: text(attributes.source_branch),
      headCommit: text(object(attributes.last_commit).id),
      baseBranch: text(attributes.target_branch),
    };
    return { event: { kind: 'pull-request', ...base, ...empty, pullRequest } };
  }
  return { event: { kind: 'other', ...base, ...empty } };
}

/** `{ "repository": url, "ref": "refs/heads/main", "after": sha, "deliveryId"?: id }`. */
function generic(_eventName: string, payload: Json): { event: EventBody; deliveryId?: string | null } | string {
  const repository = text(payload.repository);
  if (repository === null) return 'a generic push needs "repository" (the git URL)';
  const event = push(payload, [repository], null);
  if (typeof event === 'string') return event;
  return { event, ...(text(payload.deliveryId) ? { deliveryId: text(payload.deliveryId) } : {}) };
}

const readers: Record<SourceProvider, Reader> = { github: githubLike, gitea: githubLike, forgejo: githubLike, gitlab, generic };

export type TriggerDecision = 'fire' | 'fire-pull-request' | 'other-branch' | 'branch-deleted' | 'tag-push' | 'ping' | 'not-a-push';

export interface TriggerContext {
  /** The task's context URL (`https://host/repo.git#branch:folder`). */
  contextUrl: string;
  /** The task's pull-request trigger (off by default, as ACR). */
  pullRequests?: boolean;
}

/** When the context names no branch, and the payload no default branch (the generic form). */
export const fallbackBranch = 'main';

/**
 * The branch whose pushes fire the task. A context without `#branch` clones the repository's
 * default branch (the remote HEAD), so that is the branch that fires: as the payload names it
 * (GitHub, Gitea, Forgejo and GitLab send it), else `main`. ACR assumes `master`; git hosts
 * have defaulted to `main` since 2020, and following the payload is right for both.
 */
export function watchedBranch(contextUrl: string, event: Pick<SourceEvent, 'defaultBranch'>): string {
  const location = parseSourceLocation(contextUrl);
  const ref = location.kind === 'git' ? location.ref : null;
  if (ref === null) return event.defaultBranch ?? fallbackBranch;
  return ref.startsWith('refs/heads/') ? ref.slice('refs/heads/'.length) : ref;
}

const pullRequestActions = new Set(['opened', 'reopened', 'synchronize', 'synchronized', 'open', 'reopen', 'update']);

/** Whether a verified event runs the task (and if not, the reason to record). */
export function decideTrigger(event: SourceEvent, context: TriggerContext): TriggerDecision {
  if (event.kind === 'ping') return 'ping';
  const branch = watchedBranch(context.contextUrl, event);
  if (event.kind === 'pull-request') {
    const pr = event.pullRequest;
    if (context.pullRequests && pr && pullRequestActions.has(pr.action) && pr.headCommit !== null) {
      return pr.baseBranch === branch ? 'fire-pull-request' : 'other-branch';
    }
    return 'not-a-push';
  }
  if (event.kind !== 'push') return 'not-a-push';
  if (event.tag !== null) return 'tag-push';
  if (event.branch !== branch) return 'other-branch';
  if (event.deleted) return 'branch-deleted';
  return 'fire';
}
