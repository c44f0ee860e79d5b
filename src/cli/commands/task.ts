import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import type { TaskRecord } from '../../tasks/task-store.js';
import type { RunRecord } from '../../tasks/run-store.js';
import { ApiClient, CliError } from '../api-client.js';
import { sourceFields } from '../source-context.js';
import { isRemoteContext } from '../../tasks/sources/remote-source.js';
import { outputFormat, print, printMessage, withOutput, type Column, isDataFormat } from '../output.js';
import { invocation } from '../invocation.js';
import { collect, finish, followRun, keyValues } from './runs.js';

const columns: Column<TaskRecord>[] = [
  ['NAME', (t) => t.name],
  ['PLATFORM', (t) => t.platform],
  ['STATUS', (t) => t.status],
  ['SOURCE REPOSITORY', (t) => t.contextUrl ?? (t.contextId ? 'uploaded context' : '')],
  ['TRIGGERS', (t) => ((t as TaskRecord & { triggerKinds?: string[] }).triggerKinds ?? []).join(', ')],
];

interface BaseImageView {
  registry: string;
  repository: string;
  tag: string;
  dependency: string;
  digest: string | null;
  tagPolicy: string | null;
  checkedAt: string | null;
  error: string | null;
}

const baseColumns: Column<BaseImageView>[] = [
  ['BASE IMAGE', (b) => `${b.registry}/${b.repository}:${b.tag}`],
  ['DEPENDENCY', (b) => b.dependency],
  ['DIGEST', (b) => b.digest ?? ''],
  ['LAST CHECKED', (b) => b.checkedAt ?? ''],
  ['ERROR', (b) => b.error ?? ''],
];

interface TaskOptions {
  name: string;
  file?: string;
  cmd?: string;
  image: string[];
  arg: string[];
  dockerfile?: string;
  context?: string;
  gitAccessToken?: string;
  set: string[];
  setSecret: string[];
  values?: string;
  timeout?: string;
  status?: string;
  platform?: string;
  output?: string;
  baseImageTriggerEnabled?: string;
  baseImageTriggerName?: string;
  baseImageTriggerType?: string;
  baseImageTagPolicy: string[];
  commitTriggerEnabled?: string;
  sourceTriggerName?: string;
  pullRequestTriggerEnabled?: string;
  commitTriggerPollInterval?: string;
  schedule: string[];
  watchImage: string[];
}

/** ACR's boolean flags take a value (`--commit-trigger-enabled false`). */
function booleanFlag(value: string | undefined, flag: string): boolean | undefined {
  if (value === undefined) return undefined;
  if (/^(true|yes|1)$/i.test(value)) return true;
  if (/^(false|no|0)$/i.test(value)) return false;
  throw new CliError(`${flag} takes true or false`);
}

/** The trigger flags as API fields (left out when not given, so an update keeps them). */
function triggerFields(o: TaskOptions): Record<string, unknown> {
  const fields: Record<string, unknown> = {
    baseImageTriggerEnabled: booleanFlag(o.baseImageTriggerEnabled, '--base-image-trigger-enabled'),
    baseImageTriggerName: o.baseImageTriggerName,
    baseImageTriggerType: o.baseImageTriggerType,
    commitTriggerEnabled: booleanFlag(o.commitTriggerEnabled, '--commit-trigger-enabled'),
    sourceTriggerName: o.sourceTriggerName,
    pullRequestTriggerEnabled: booleanFlag(o.pullRequestTriggerEnabled, '--pull-request-trigger-enabled'),
    commitTriggerPollInterval: o.commitTriggerPollInterval === undefined ? undefined : o.commitTriggerPollInterval === '0' ? null : Number(o.commitTriggerPollInterval),
    schedules: o.schedule.length ? o.schedule : undefined,
    watchImages: o.watchImage.length ? o.watchImage : undefined,
  };
  if (o.baseImageTagPolicy.length) {
    // `--base-image-tag-policy POLICY` applies to the task's bases; `REF=POLICY` to one of them.
    fields.baseImageTagPolicies = Object.fromEntries(
      o.baseImageTagPolicy.map((p) => {
        const at = p.search(/=(semver|regex):/);
        return at > 0 ? [p.slice(0, at), p.slice(at + 1)] : ['*', p];
      }),
    );
  }
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
}

async function taskBody(client: ApiClient, given: TaskOptions, creating: boolean): Promise<Record<string, unknown>> {
  const o = given.file && !isTaskFileName(given.file) ? { ...given, file: undefined, dockerfile: given.dockerfile ?? given.file } : given;
  const kinds = [o.file, o.cmd, o.dockerfile].filter(Boolean).length;
  if (creating && kinds !== 1) throw new CliError('give one of --file/-f (a task file, or a Dockerfile with --image), --cmd, or --dockerfile with --image');
  const body: Record<string, unknown> = {};
  if (o.file && o.context && isRemoteContext(o.context)) {
    body.taskFilePath = o.file; // a file in the git / tarball source, as in ACR
  } else if (o.file) {
    // As `berth run -f` (and az acr run): a local file, or one inside the context folder.
    const found = [o.file, ...(o.context && o.context !== '/dev/null' ? [join(o.context, o.file)] : [])].find((f) => existsSync(f));
    if (!found) throw new CliError(`task file "${o.file}" not found`);
    body.taskFile = readFileSync(found, 'utf8');
  }
  if (o.cmd) body.command = o.cmd;
  if (o.dockerfile) body.dockerfile = o.dockerfile;
  if (o.image.length > 0) body.images = o.image;
  if (o.arg.length > 0) body.buildArgs = keyValues(o.arg, '--arg');
  if (o.context) Object.assign(body, await sourceFields(client, o.context, o.gitAccessToken));
  else if (o.gitAccessToken) body.gitAccessToken = o.gitAccessToken;
  const values = { ...(o.values ? (parseYaml(readFileSync(o.values, 'utf8')) as Record<string, unknown>) : {}), ...keyValues(o.set, '--set') };
  if (Object.keys(values).length > 0) body.values = values;
  if (o.setSecret.length > 0) body.secretValues = keyValues(o.setSecret, '--set-secret');
  if (o.timeout) body.timeout = Number(o.timeout);
  if (o.platform) body.platform = o.platform;
  if (o.status) {
    if (o.status !== 'Enabled' && o.status !== 'Disabled') throw new CliError('--status takes Enabled or Disabled');
    body.status = o.status;
  }
  return { ...body, ...triggerFields(o) };
}

function taskOptions(command: Command): Command {
  return command
    .requiredOption('-n, --name <name>', 'task name')
    .option('-f, --file <file>', 'a task file (.yaml/.yml) or, any other name, a Dockerfile to build with --image (ACR\'s rule)')
    .option('--cmd <command>', 'a single command: IMAGE [ARGS...]')
    .option('--dockerfile <path>', 'a Dockerfile to build with --image, whatever its name')
    .option('-t, --image <repo:tag>', 'image the build task pushes (repeatable)', collect, [])
    .option('--arg <key=value>', 'a build argument of a build task (repeatable)', collect, [])
    .option('-c, --context <source>', 'a folder (uploaded with the task), a git URL (https://host/org/repo.git#ref:folder), a tarball URL, or /dev/null')
    .option('--git-access-token <token>', 'token for a private git context (plain, secret:NAME or a Key Vault URL)')
    .option('--set <key=value>', 'a value for {{.Values.key}} (repeatable)', collect, [])
    .option('--values <file.yaml>', 'a YAML file of values')
    .option('--set-secret <key=value>', 'a secret value kept sealed with the task ({{.Values.key}}, masked; plain, secret:NAME or a Key Vault URL; repeatable)', collect, [])
    .option('--timeout <seconds>', 'run timeout (default 3600)')
    .option('--status <status>', 'Enabled or Disabled')
    .option('--platform <platform>', 'os/architecture[/variant] its runs need (default linux/amd64)')
    .option('--assign-identity [identity]', "accepted for az compatibility: a task always runs as its own identity, which resolves Key Vault style secret URLs")
    .option('--use-identity [identity]', 'accepted for az compatibility (see --assign-identity)')
    .option('--base-image-trigger-enabled <bool>', 'run when a base image changes (default true)')
    .option('--base-image-trigger-name <name>', 'name of the base-image trigger')
    .option('--base-image-trigger-type <type>', 'Runtime (the last stage\'s base, default) or All')
    .option('--base-image-tag-policy <[ref=]policy>', "new-tag trigger: 'semver:>=15 <16' or 'regex:^15\\.[0-9]+-alpine$' (repeatable)", collect, [])
    .option('--watch-image <ref>', 'an image whose changes run the task, for tasks that build nothing (repeatable)', collect, [])
    .option('--commit-trigger-enabled <bool>', 'run on pushes to the context branch (default true for git contexts)')
    .option('--source-trigger-name <name>', 'name of the source trigger')
    .option('--pull-request-trigger-enabled <bool>', 'record pull-request events (default false)')
    .option('--commit-trigger-poll-interval <seconds>', 'poll the branch head this often, for git servers that cannot send webhooks (0: off)')
    .option('--schedule <[name:]cron>', 'a timer: 5-field cron in UTC (repeatable)', collect, []);
}

/** ACR's rule for `-f/--file`: a YAML name is a task file, anything else a Dockerfile. */
export function isTaskFileName(file: string): boolean {
  return /\.ya?ml$/i.test(file);
}

export function registerTaskCommands(program: Command): void {
  const task = program.command('task').description('tasks and runs (az acr task)');
  const path = (name: string) => `/api/v1/tasks/${encodeURIComponent(name)}`;

  withOutput(taskOptions(task.command('create').description('create a task'))).action(async (o: TaskOptions) => {
    const client = ApiClient.fromStoredLogin();
    const created = await client.call<TaskRecord & { webhookSecret?: string; sourceWebhookPath?: string }>('POST', '/api/v1/tasks', { name: o.name, ...(await taskBody(client, o, true)) });
    const format = outputFormat(o);
    print(format, created, columns);
    // The commit trigger's secret is shown once, at creation: the table must not lose it.
    if (format === 'table' && invocation().query === undefined && created.webhookSecret) {
      process.stdout.write(`\nSource webhook: ${client.server.replace(/\/+$/, '')}${created.sourceWebhookPath ?? ''}\nWebhook secret (shown only now): ${created.webhookSecret}\n`);
    }
  });
  withOutput(taskOptions(task.command('update').description('change a task'))).action(async (o: TaskOptions) => {
    const client = ApiClient.fromStoredLogin();
    print(outputFormat(o), await client.call<TaskRecord>('PATCH', path(o.name), await taskBody(client, o, false)), columns);
  });
  withOutput(task.command('show').description('show a task, with its base images').requiredOption('-n, --name <name>', 'task name')).action(async (o: { name: string; output?: string }) => {
    const shown = await ApiClient.fromStoredLogin().call<TaskRecord & { baseImages: BaseImageView[] }>('GET', path(o.name));
    const format = outputFormat(o);
    print(format, shown, columns);
    if (!isDataFormat(format) && shown.baseImages.length > 0) {
      process.stdout.write('\n');
      print(format, shown.baseImages, baseColumns);
    }
  });
  withOutput(task.command('list').description('list tasks')).action(async (o: { output?: string }) => {
    print(outputFormat(o), await ApiClient.fromStoredLogin().call<TaskRecord[]>('GET', '/api/v1/tasks'), columns);
  });
  withOutput(task.command('delete').description('delete a task').requiredOption('-n, --name <name>', 'task name').option('-y, --yes', 'do not ask')).action(
    async (o: { name: string; output?: string }) => {
      await ApiClient.fromStoredLogin().call('DELETE', path(o.name));
      printMessage(outputFormat(o), `Deleted task ${o.name}`, { name: o.name, deleted: true });
    },
  );
  const credential = task.command('credential').description("a task's logins for other registries (az acr task credential)");
  type CredentialView = { loginServer: string; username: string; password: string };
  const credentialColumns: Column<CredentialView>[] = [
    ['LOGIN SERVER', (c) => c.loginServer],
    ['USERNAME', (c) => c.username],
    ['PASSWORD', (c) => c.password],
  ];
  for (const [verb, method] of [
    ['add', 'POST'],
    ['update', 'PUT'],
  ] as const) {
    withOutput(
      credential
        .command(verb)
        .description(`${verb} a login; -u/-p are plain text (stored encrypted), secret:NAME, or a Key Vault secret URL naming a Berth secret`)
        .requiredOption('-n, --name <task>', 'task name')
        .requiredOption('--login-server <host>', 'registry host[:port]')
        .requiredOption('-u, --username <username>', 'user name or secret reference')
        .requiredOption('-p, --password <password>', 'password or secret reference')
        .option('--use-identity [identity]', 'accepted for az compatibility: the task\'s own identity resolves secret references'),
    ).action(async (o: { name: string; loginServer: string; username: string; password: string; output?: string }) => {
      const body = { loginServer: o.loginServer, username: o.username, password: o.password };
      const target = verb === 'add' ? `${path(o.name)}/credentials` : `${path(o.name)}/credentials/${encodeURIComponent(o.loginServer)}`;
      print(outputFormat(o), await ApiClient.fromStoredLogin().call<CredentialView[]>(method, target, body), credentialColumns);
    });
  }
  withOutput(credential.command('list').description("a task's logins (never their values)").requiredOption('-n, --name <task>', 'task name')).action(
    async (o: { name: string; output?: string }) => {
      print(outputFormat(o), await ApiClient.fromStoredLogin().call<CredentialView[]>('GET', `${path(o.name)}/credentials`), credentialColumns);
    },
  );
  withOutput(
    credential.command('remove').description('remove a login').requiredOption('-n, --name <task>', 'task name').requiredOption('--login-server <host>', 'registry host[:port]'),
  ).action(async (o: { name: string; loginServer: string; output?: string }) => {
    await ApiClient.fromStoredLogin().call('DELETE', `${path(o.name)}/credentials/${encodeURIComponent(o.loginServer)}`);
    printMessage(outputFormat(o), `Removed the ${o.loginServer} login of task ${o.name}`, { name: o.name, loginServer: o.loginServer, removed: true });
  });

  registerTimerCommands(task, path);
  withOutput(
    task
      .command('list-source-events')
      .description("push webhooks and polls received, and what each did (why a build did or didn't trigger)")
      .requiredOption('-n, --name <name>', 'task name')
      .option('--top <n>', 'the latest N (default 50)'),
  ).action(async (o: { name: string; top?: string; output?: string }) => {
    const events = await ApiClient.fromStoredLogin().call<SourceEventView[]>('GET', `${path(o.name)}/source-events${o.top ? `?top=${Number(o.top)}` : ''}`);
    print(outputFormat(o), events, sourceEventColumns);
  });

  withOutput(
    task
      .command('run')
      .description('run a task now; the exit code is the run result')
      .requiredOption('-n, --name <name>', 'task name')
      .option('--set <key=value>', 'override a value (repeatable)', collect, [])
      .option('--set-secret <key=value>', 'a secret for this run (repeatable)', collect, [])
      .option('--no-logs', 'do not stream the log')
      .option('--no-wait', 'return once the run is queued'),
  ).action(async (o: { name: string; set: string[]; setSecret: string[]; logs: boolean; wait: boolean; output?: string }) => {
    const client = ApiClient.fromStoredLogin();
    const run = await client.call<RunRecord>('POST', `${path(o.name)}/runs`, { values: keyValues(o.set, '--set'), secrets: keyValues(o.setSecret, '--set-secret') });
    const format = outputFormat(o);
    if (!o.wait) return printMessage(format, `Queued a run with ID: ${run.id}`, run);
    const done = await followRun(client, run.id, o.logs && format === 'table');
    if (isDataFormat(format)) printMessage(format, '', done);
    finish(done);
  });
}

interface SourceEventView {
  receivedAt: string;
  provider: string;
  ref: string | null;
  commit: string | null;
  verdict: string;
  runId: string | null;
  detail: string | null;
}

const sourceEventColumns: Column<SourceEventView>[] = [
  ['RECEIVED', (e) => e.receivedAt.replace(/\.\d+Z$/, 'Z')],
  ['PROVIDER', (e) => e.provider],
  ['REF', (e) => e.ref ?? ''],
  ['COMMIT', (e) => (e.commit ?? '').slice(0, 12)],
  ['VERDICT', (e) => (e.runId ? `${e.verdict} ${e.runId}` : e.verdict)],
  ['DETAIL', (e) => e.detail ?? ''],
];

type TimerView = { name: string; schedule: string; status: string };
const timerColumns: Column<TimerView>[] = [
  ['NAME', (t) => t.name],
  ['SCHEDULE', (t) => t.schedule],
  ['STATUS', (t) => t.status],
];

/** `berth task timer add|update|list|remove` (az acr task timer). */
function registerTimerCommands(task: Command, path: (name: string) => string): void {
  const timer = task.command('timer').description("a task's timer triggers (5-field cron, UTC)");
  const timerPath = (o: { name: string; timerName: string }) => `${path(o.name)}/timers/${encodeURIComponent(o.timerName)}`;
  type TimerOptions = { name: string; timerName: string; schedule?: string; enabled?: string; output?: string };
  withOutput(
    timer.command('add').description('add a timer').requiredOption('-n, --name <task>', 'task name').requiredOption('--timer-name <name>', 'timer name').requiredOption('--schedule <cron>', '5-field cron, UTC').option('--enabled <bool>', 'true (default) or false'),
  ).action(async (o: TimerOptions) => {
    const body = { name: o.timerName, schedule: o.schedule, ...(o.enabled !== undefined ? { enabled: booleanFlag(o.enabled, '--enabled') } : {}) };
    print(outputFormat(o), await ApiClient.fromStoredLogin().call<TimerView[]>('POST', `${path(o.name)}/timers`, body), timerColumns);
  });
  withOutput(
    timer.command('update').description('change a timer').requiredOption('-n, --name <task>', 'task name').requiredOption('--timer-name <name>', 'timer name').option('--schedule <cron>', '5-field cron, UTC').option('--enabled <bool>', 'true or false'),
  ).action(async (o: TimerOptions) => {
    const body = { ...(o.schedule ? { schedule: o.schedule } : {}), ...(o.enabled !== undefined ? { enabled: booleanFlag(o.enabled, '--enabled') } : {}) };
    print(outputFormat(o), await ApiClient.fromStoredLogin().call<TimerView[]>('PATCH', timerPath(o), body), timerColumns);
  });
  withOutput(timer.command('list').description("a task's timers").requiredOption('-n, --name <task>', 'task name')).action(async (o: { name: string; output?: string }) => {
    print(outputFormat(o), await ApiClient.fromStoredLogin().call<TimerView[]>('GET', `${path(o.name)}/timers`), timerColumns);
  });
  withOutput(timer.command('remove').description('remove a timer').requiredOption('-n, --name <task>', 'task name').requiredOption('--timer-name <name>', 'timer name')).action(async (o: TimerOptions) => {
    print(outputFormat(o), await ApiClient.fromStoredLogin().call<TimerView[]>('DELETE', timerPath(o)), timerColumns);
  });
}
