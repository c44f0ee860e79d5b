/**
 * Declarative lifecycle policies: per repository pattern, rules that say which tags stay and which
 * go, evaluated on a schedule (see policy-service.ts). What the rules mean, how they combine and
 * how they are validated lives here; what they decide for one repository is policy-plan.ts.
 */
import { RegistryError } from '../registry/errors.js';
import { parseAgo, PurgeArgumentError, repositoryMatcher } from './purge-options.js';

export interface PolicyRules {
  /** Tags matching any of these stay for ever. */
  keepTags: string[];
  /** Of the tags matching `pattern`, the `count` newest (by push) stay; each entry counts on its own. */
  keepNewest: Array<{ count: number; pattern: string }>;
  /** Tags pushed (or moved) within this long stay; so do untagged manifests pushed within it. */
  keepPushedWithin: string | null;
  /** Tags pulled (by tag, or their manifest by digest) within this long stay; so do untagged manifests pulled within it. */
  keepPulledWithin: string | null;
  /** Tags matching `pattern` and last pushed more than `olderThan` ago are deleted (unless a keep rule or an exclude holds them). */
  deleteTags: Array<{ pattern: string; olderThan: string }>;
  /** Manifests without a tag for this long are deleted (children of kept indexes and referrers of kept manifests never are). */
  deleteUntaggedAfter: string | null;
  /** Tags matching any of these are never touched by any rule. */
  exclude: string[];
}

export type PolicyStatus = 'enabled' | 'disabled';

export interface LifecyclePolicy {
  name: string;
  /** A repository regex, anchored (`^…$`) and case-insensitive, as purge's `--filter` repository part. */
  repository: string;
  status: PolicyStatus;
  rules: PolicyRules;
  createdAt: string;
  updatedAt: string;
}

/** What a create or an update says; on update, `rules` (when given) replaces the rules as a whole. */
export interface PolicyInput {
  repository?: string;
  status?: PolicyStatus;
  rules?: Partial<PolicyRules>;
}

/** Persistence of policies (metadata/sql/sql-policy-store.ts). */
export interface PolicyStore {
  listPolicies(): Promise<LifecyclePolicy[]>;
  getPolicy(name: string): Promise<LifecyclePolicy | null>;
  /** False when a policy of that name exists. */
  insertPolicy(policy: LifecyclePolicy): Promise<boolean>;
  /** False when there is no policy of that name. */
  updatePolicy(policy: LifecyclePolicy): Promise<boolean>;
  deletePolicy(name: string): Promise<boolean>;
}

interface Pattern {
  pattern: string;
  regex: RegExp;
}

/** A policy with its patterns compiled and its durations in milliseconds. */
export interface CompiledPolicy {
  name: string;
  repository: RegExp;
  keepTags: Pattern[];
  keepNewest: Array<Pattern & { count: number }>;
  keepPushedWithinMs: number | null;
  keepPulledWithinMs: number | null;
  deleteTags: Array<Pattern & { olderThan: string; olderThanMs: number }>;
  deleteUntaggedAfter: { text: string; ms: number } | null;
  exclude: Pattern[];
}

export const policyNamePattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const maxPatterns = 50;

const invalid = (message: string): RegistryError => new RegistryError('INVALID_REQUEST', message);

export function emptyRules(): PolicyRules {
  return { keepTags: [], keepNewest: [], keepPushedWithin: null, keepPulledWithin: null, deleteTags: [], deleteUntaggedAfter: null, exclude: [] };
}

export function checkPolicyName(name: string): void {
  if (!policyNamePattern.test(name)) throw invalid(`invalid policy name "${name}": 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit`);
}

/** The rules with defaults filled in, every pattern and duration checked; throws INVALID_REQUEST naming the bad one. */
export function normalizeRules(input: Partial<PolicyRules>): PolicyRules {
  const rules: PolicyRules = { ...emptyRules(), ...stripUndefined(input) };
  rules.keepNewest = rules.keepNewest.map((k) => ({ count: k.count, pattern: k.pattern ?? '.*' }));
  for (const [what, list] of [
    ['keep-tags', rules.keepTags],
    ['exclude', rules.exclude],
  ] as const) {
    if (list.length > maxPatterns) throw invalid(`at most ${maxPatterns} --${what} patterns`);
    for (const pattern of list) tagRegex(`--${what}`, pattern);
  }
  if (rules.keepNewest.length > maxPatterns) throw invalid(`at most ${maxPatterns} --keep-newest rules`);
  for (const k of rules.keepNewest) {
    if (!Number.isInteger(k.count) || k.count < 1) throw invalid(`invalid --keep-newest count ${String(k.count)}: a whole number of 1 or more`);
    tagRegex('--keep-newest', k.pattern);
  }
  if (rules.deleteTags.length > maxPatterns) throw invalid(`at most ${maxPatterns} --delete-tags rules`);
  for (const d of rules.deleteTags) {
    tagRegex('--delete-tags', d.pattern);
    duration('--older-than', d.olderThan);
  }
  for (const [what, value] of [
    ['--keep-pushed-within', rules.keepPushedWithin],
    ['--keep-pulled-within', rules.keepPulledWithin],
    ['--delete-untagged-after', rules.deleteUntaggedAfter],
  ] as const) {
    if (value !== null) duration(what, value);
  }
  // A policy without a delete rule would look like it does something (zot's keep-only rules
  // delete everything else; here keep rules only hold what a delete rule selects).
  if (rules.deleteTags.length === 0 && rules.deleteUntaggedAfter === null) {
    throw invalid('a policy needs a delete rule (--delete-tags with --older-than, or --delete-untagged-after): keep rules only hold back what delete rules select');
  }
  return rules;
}

export function checkRepositoryPattern(repository: string): void {
  if (repository.trim() === '') throw invalid('--repository is required: a repository regex, anchored, e.g. team/.* or (app|web)');
  try {
    repositoryMatcher(repository);
  } catch (error) {
    throw invalid(`invalid --repository: ${(error as Error).message}`);
  }
}

export function compilePolicy(policy: Pick<LifecyclePolicy, 'name' | 'repository' | 'rules'>): CompiledPolicy {
  const { rules } = policy;
  const pattern = (what: string, p: string): Pattern => ({ pattern: p, regex: tagRegex(what, p) });
  return {
    name: policy.name,
    repository: repositoryMatcher(policy.repository),
    keepTags: rules.keepTags.map((p) => pattern('--keep-tags', p)),
    keepNewest: rules.keepNewest.map((k) => ({ ...pattern('--keep-newest', k.pattern), count: k.count })),
    keepPushedWithinMs: rules.keepPushedWithin === null ? null : duration('--keep-pushed-within', rules.keepPushedWithin),
    keepPulledWithinMs: rules.keepPulledWithin === null ? null : duration('--keep-pulled-within', rules.keepPulledWithin),
    deleteTags: rules.deleteTags.map((d) => ({ ...pattern('--delete-tags', d.pattern), olderThan: d.olderThan, olderThanMs: duration('--older-than', d.olderThan) })),
    deleteUntaggedAfter: rules.deleteUntaggedAfter === null ? null : { text: rules.deleteUntaggedAfter, ms: duration('--delete-untagged-after', rules.deleteUntaggedAfter) },
    exclude: rules.exclude.map((p) => pattern('--exclude', p)),
  };
}

/** How a rule is named in previews and the audit log: as it is written on the command line. */
export const describeDeleteTags = (d: { pattern: string; olderThan: string }): string => `delete-tags ${JSON.stringify(d.pattern)} older-than ${d.olderThan}`;
export const describeDeleteUntagged = (text: string): string => `delete-untagged-after ${text}`;

/** Tag patterns are JavaScript regexes, unanchored as purge's tag filters (`^…$` anchors them). */
function tagRegex(what: string, pattern: string): RegExp {
  if (pattern.length > 1024) throw invalid(`${what} pattern longer than 1024 characters`);
  try {
    return new RegExp(pattern);
  } catch (error) {
    throw invalid(`invalid ${what} pattern "${pattern}": ${(error as Error).message}`);
  }
}

/** purge's `--ago` syntax: [N]d[duration], e.g. 1d, 2d3h6m, 10m, 0d. */
function duration(what: string, text: string): number {
  try {
    return parseAgo(text);
  } catch (error) {
    if (error instanceof PurgeArgumentError) throw invalid(`invalid ${what} "${text}": use [N]d[duration], e.g. 1d, 2d3h6m, 10m, 0d`);
    throw error;
  }
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
