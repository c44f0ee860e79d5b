import type { Command } from 'commander';
import type { LifecyclePolicy, PolicyRules } from '../../lifecycle/policy.js';
import type { PolicyEvaluation } from '../../lifecycle/policy-service.js';
import { ApiClient, CliError } from '../api-client.js';
import { invocation } from '../invocation.js';
import { outputFormat, print, withOutput } from '../output.js';
import { formatBytes } from './purge.js';

const collect = (value: string, previous: string[]) => [...previous, value];

interface RuleFlags {
  keepTags: string[];
  keepNewest: string[];
  keepPushedWithin?: string;
  keepPulledWithin?: string;
  deleteTags: string[];
  olderThan: string[];
  deleteUntaggedAfter?: string;
  exclude: string[];
}

interface PolicyFlags extends RuleFlags {
  name: string;
  repository?: string;
  status?: string;
  output?: string;
}

function withRuleFlags(command: Command): Command {
  return command
    .requiredOption('-n, --name <name>', 'the policy name')
    .option('--repository <regex>', 'the repositories it applies to: a regex, anchored (^…$), case-insensitive, as purge --filter')
    .option('--keep-tags <regex>', 'keep tags matching this regex for ever (unanchored, as purge; repeatable)', collect, [] as string[])
    .option('--keep-newest <N[:regex]>', 'keep the N newest tags matching the regex (default .*); each counts on its own (repeatable)', collect, [] as string[])
    .option('--keep-pushed-within <duration>', 'keep tags (and untagged manifests) pushed within this long: [N]d[duration], e.g. 30d, 12h')
    .option('--keep-pulled-within <duration>', 'keep tags pulled (by tag, or their manifest by digest) and untagged manifests pulled within this long')
    .option('--delete-tags <regex>', 'delete tags matching this regex that are older than --older-than (repeatable)', collect, [] as string[])
    .option('--older-than <duration>', 'the age for --delete-tags: one for all, or one per --delete-tags in the same order', collect, [] as string[])
    .option('--delete-untagged-after <duration>', 'delete manifests untagged for this long (0d: at the next evaluation)')
    .option('--exclude <regex>', 'tags matching this regex are never touched by any rule (repeatable)', collect, [] as string[])
    .option('--status <status>', 'enabled or disabled');
}

const ruleFlagsGiven = (o: RuleFlags): boolean =>
  o.keepTags.length > 0 ||
  o.keepNewest.length > 0 ||
  o.keepPushedWithin !== undefined ||
  o.keepPulledWithin !== undefined ||
  o.deleteTags.length > 0 ||
  o.olderThan.length > 0 ||
  o.deleteUntaggedAfter !== undefined ||
  o.exclude.length > 0;

/** The flags as the API's rules (the server validates patterns and durations). */
export function rulesFromFlags(o: RuleFlags): PolicyRules {
  if (o.olderThan.length > 0 && o.deleteTags.length === 0) throw new CliError('--older-than goes with --delete-tags');
  if (o.deleteTags.length > 0 && o.olderThan.length === 0) throw new CliError('--delete-tags needs --older-than <duration> (e.g. 30d)');
  if (o.olderThan.length > 1 && o.olderThan.length !== o.deleteTags.length) {
    throw new CliError(`give one --older-than for every --delete-tags, or one for all (${o.deleteTags.length} --delete-tags, ${o.olderThan.length} --older-than)`);
  }
  const keepNewest = o.keepNewest.map((value) => {
    const match = /^(\d+)(?::(.*))?$/s.exec(value);
    if (!match || Number(match[1]) < 1) throw new CliError(`invalid --keep-newest "${value}": N or N:regex, N a whole number of 1 or more`);
    return { count: Number(match[1]), pattern: match[2] === undefined || match[2] === '' ? '.*' : match[2] };
  });
  return {
    keepTags: o.keepTags,
    keepNewest,
    keepPushedWithin: o.keepPushedWithin ?? null,
    keepPulledWithin: o.keepPulledWithin ?? null,
    deleteTags: o.deleteTags.map((pattern, i) => ({ pattern, olderThan: o.olderThan.length === 1 ? o.olderThan[0]! : o.olderThan[i]! })),
    deleteUntaggedAfter: o.deleteUntaggedAfter ?? null,
    exclude: o.exclude,
  };
}

/** The rules as one line, in the CLI's words. */
export function describeRules(rules: PolicyRules): string {
  const parts = [
    ...rules.keepTags.map((p) => `keep-tags ${JSON.stringify(p)}`),
    ...rules.keepNewest.map((k) => `keep-newest ${k.count}:${JSON.stringify(k.pattern)}`),
    ...(rules.keepPushedWithin !== null ? [`keep-pushed-within ${rules.keepPushedWithin}`] : []),
    ...(rules.keepPulledWithin !== null ? [`keep-pulled-within ${rules.keepPulledWithin}`] : []),
    ...rules.deleteTags.map((d) => `delete-tags ${JSON.stringify(d.pattern)} older-than ${d.olderThan}`),
    ...(rules.deleteUntaggedAfter !== null ? [`delete-untagged-after ${rules.deleteUntaggedAfter}`] : []),
    ...rules.exclude.map((p) => `exclude ${JSON.stringify(p)}`),
  ];
  return parts.join('; ');
}

const columns: Array<[string, (p: LifecyclePolicy) => unknown]> = [
  ['NAME', (p) => p.name],
  ['STATUS', (p) => p.status],
  ['REPOSITORY', (p) => p.repository],
  ['RULES', (p) => describeRules(p.rules)],
  ['UPDATED', (p) => p.updatedAt],
];

function checkStatus(status: string | undefined): void {
  if (status !== undefined && status !== 'enabled' && status !== 'disabled') throw new CliError('--status takes enabled or disabled');
}

/** Each deletion with the rule that chose it, then the counts and the bytes freed. */
export function evaluationReport(result: PolicyEvaluation, host: string): string {
  const lines: string[] = [];
  const verb = result.dryRun ? 'Would delete' : 'Deleted';
  const why = (r: { policy: string; rule: string; referrerOf?: string }) => `policy ${r.policy}: ${r.rule}${r.referrerOf ? `, referrer of ${r.referrerOf}` : ''}`;
  for (const repo of result.repositories) {
    for (const t of repo.tags) lines.push(`${verb}: ${host}/${repo.repository}:${t.tag}  (${why(t)})`);
    for (const m of repo.manifests) lines.push(`${verb}: ${host}/${repo.repository}@${m.digest}  ${formatBytes(m.size)}  (${why(m)})`);
    for (const t of repo.keptByLock.tags) lines.push(`Kept by a lock: ${host}/${repo.repository}:${t}`);
    for (const d of repo.keptByLock.manifests) lines.push(`Kept by a lock: ${host}/${repo.repository}@${d}`);
  }
  if (result.policies.length === 0) lines.push('No enabled policies.');
  else if (result.nextEvaluationAt) lines.push(`Next scheduled evaluation: ${result.nextEvaluationAt}`);
  if (result.skipped > 0) lines.push(`Kept because they changed while evaluating: ${result.skipped}`);
  lines.push(`Number of ${result.dryRun ? 'tags that would be deleted' : 'deleted tags'}: ${result.deletedTags}`);
  lines.push(`Number of ${result.dryRun ? 'manifests that would be deleted' : 'deleted manifests'}: ${result.deletedManifests}`);
  lines.push(`${result.dryRun ? 'Bytes that would be freed' : 'Bytes freed'} (after garbage collection): ${result.bytesFreed} (${formatBytes(result.bytesFreed)})`);
  return `${lines.join('\n')}\n`;
}

export function registerPolicyCommands(program: Command): void {
  const policy = program
    .command('policy')
    .description('lifecycle policies: per repository pattern, which tags and untagged manifests stay or go, evaluated on a schedule (keep wins over delete)');

  withOutput(withRuleFlags(policy.command('create').description('create a policy (try `berth policy preview -n NAME` before enabling it)'))).action(async (o: PolicyFlags) => {
    checkStatus(o.status);
    if (o.repository === undefined) throw new CliError('--repository <regex> is required');
    const body = { name: o.name, repository: o.repository, rules: rulesFromFlags(o), ...(o.status ? { status: o.status } : {}) };
    print(outputFormat(o), await ApiClient.fromStoredLogin().call<LifecyclePolicy>('POST', '/api/v1/policies', body), columns);
  });

  withOutput(withRuleFlags(policy.command('update').description('change a policy: --repository and --status alone change only themselves; rule flags replace all its rules'))).action(
    async (o: PolicyFlags) => {
      checkStatus(o.status);
      const body = { ...(o.repository !== undefined ? { repository: o.repository } : {}), ...(o.status ? { status: o.status } : {}), ...(ruleFlagsGiven(o) ? { rules: rulesFromFlags(o) } : {}) };
      if (Object.keys(body).length === 0) throw new CliError('nothing to update: give --repository, --status or rule flags');
      print(outputFormat(o), await ApiClient.fromStoredLogin().call<LifecyclePolicy>('PATCH', `/api/v1/policies/${encodeURIComponent(o.name)}`, body), columns);
    },
  );

  withOutput(policy.command('show').description('one policy').requiredOption('-n, --name <name>', 'the policy name')).action(async (o: { name: string; output?: string }) => {
    print(outputFormat(o), await ApiClient.fromStoredLogin().call<LifecyclePolicy>('GET', `/api/v1/policies/${encodeURIComponent(o.name)}`), columns);
  });

  withOutput(policy.command('list').description('every policy')).action(async (o: { output?: string }) => {
    print(outputFormat(o), await ApiClient.fromStoredLogin().call<LifecyclePolicy[]>('GET', '/api/v1/policies'), columns);
  });

  withOutput(policy.command('delete').description('delete a policy (what it deleted stays deleted)').requiredOption('-n, --name <name>', 'the policy name')).action(
    async (o: { name: string; output?: string }) => {
      await ApiClient.fromStoredLogin().call('DELETE', `/api/v1/policies/${encodeURIComponent(o.name)}`);
      print(outputFormat(o), { name: o.name, deleted: true }, [['DELETED', (r: { name: string }) => r.name]]);
    },
  );

  for (const [verb, path, description] of [
    ['preview', 'preview', 'what the next evaluation would delete, as of now: tags, manifests, bytes freed and the rule choosing each; deletes nothing'],
    ['run', 'evaluate', 'evaluate now, as the schedule does (every enabled policy, or -n alone, enabled or not)'],
  ] as const) {
    withOutput(policy.command(verb).description(description).option('-n, --name <name>', 'this policy alone (with the keep rules of every enabled policy); default: every enabled policy')).action(
      async (o: { name?: string; output?: string }) => {
        const client = ApiClient.fromStoredLogin();
        const result = await client.call<PolicyEvaluation>('POST', `/api/v1/policies/${path}`, o.name ? { name: o.name } : {});
        const format = outputFormat(o);
        if (format === 'table' && invocation().query === undefined) process.stdout.write(evaluationReport(result, new URL(client.server).host));
        else print(format, result, []);
      },
    );
  }
}
