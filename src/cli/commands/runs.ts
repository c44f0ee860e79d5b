import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { Command } from 'commander';
import type { RunRecord } from '../../tasks/run-store.js';
import { ApiClient, CliError } from '../api-client.js';
import { sourceFields } from '../source-context.js';
import { isRemoteContext } from '../../tasks/sources/remote-source.js';
import { outputFormat, print, withOutput, type Column, isDataFormat } from '../output.js';

function duration(run: RunRecord): string {
  if (!run.startedAt) return '';
  const end = run.finishedAt ? Date.parse(run.finishedAt) : Date.now();
  const total = Math.max(0, Math.round((end - Date.parse(run.startedAt)) / 1000));
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(Math.floor(total / 3600))}:${p(Math.floor((total % 3600) / 60))}:${p(total % 60)}`;
}

/** ACR's list-runs columns. */
const runColumns: Column<RunRecord>[] = [
  ['RUN ID', (r) => r.id],
  ['TASK', (r) => r.taskName ?? ''],
  ['PLATFORM', (r) => r.platform],
  ['STATUS', (r) => r.status],
  ['TRIGGER', (r) => r.trigger],
  ['STARTED', (r) => (r.startedAt ? `${r.startedAt.slice(0, 19)}Z` : '')],
  ['DURATION', (r) => duration(r)],
];

/** `-f` names a local file, or one inside the context folder (as az does), or - for stdin. */
function readTaskFile(file: string, context: string): string {
  if (file === '-') return readFileSync(0, 'utf8');
  for (const candidate of [file, join(context, file)]) if (existsSync(candidate)) return readFileSync(candidate, 'utf8');
  throw new CliError(`task file "${file}" not found`);
}

/** Repeatable single-value options, as az takes them (`-t a -t b`). */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function keyValues(values: string[] | undefined, flag: string): Record<string, string> {
  const result: Record<string, string> = {};
  for (const value of values ?? []) {
    const eq = value.indexOf('=');
    if (eq <= 0) throw new CliError(`${flag} takes key=value, got "${value}"`);
    result[value.slice(0, eq)] = value.slice(eq + 1);
  }
  return result;
}

/** Streams a run's log to stdout until it ends; returns the final run. */
export async function followRun(client: ApiClient, id: string, showLogs: boolean): Promise<RunRecord> {
  if (showLogs) {
    const response = await client.raw('GET', `/api/v1/runs/${id}/logs?follow=true`);
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) process.stdout.write(chunk);
  }
  for (;;) {
    const run = await client.call<RunRecord>('GET', `/api/v1/runs/${id}`);
    if (!['Queued', 'Running'].includes(run.status)) return run;
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** The CLI's exit code is the run's result (ACR gets this wrong). */
export function finish(run: RunRecord): void {
  if (run.status !== 'Succeeded') throw new CliError(`run ${run.id} ${run.status}${run.error ? `: ${run.error}` : ''}`);
}

export function registerRunCommands(program: Command): void {
  withOutput(
    program
      .command('build <context>')
      .description('build an image on the server from a local folder, a git URL (https://host/org/repo.git#ref:folder) or a tarball URL, and push it (az acr build)')
      .option('-t, --image <repo:tag>', 'a tag ({{.Run.ID}} allowed; repeatable); without a registry it goes to this one', collect, [])
      .option('-f, --file <dockerfile>', 'Dockerfile path inside the context', 'Dockerfile')
      .option('--build-arg <key=value>', 'a build argument (repeatable)', collect, [])
      .option('--secret-build-arg <key=value>', 'a build argument whose value never shows in logs (repeatable)', collect, [])
      .option('--target <stage>', 'build this stage of a multi-stage Dockerfile')
      .option('--git-access-token <token>', 'token for a private git context')
      .option('--platform <platform>', 'os/architecture[/variant] to build for (default linux/amd64); an agent serving it executes the run')
      .option('--no-push', 'build only')
      .option('--no-logs', 'do not stream the log (still waits for the result)')
      .option('--no-wait', 'return once the run is queued')
      .option('--timeout <seconds>', 'run timeout (default 3600)'),
  ).action(async (context: string, o: { gitAccessToken?: string; image?: string[]; file: string; buildArg?: string[]; secretBuildArg?: string[]; target?: string; platform?: string; push: boolean; logs: boolean; wait: boolean; timeout?: string; output?: string }) => {
    const client = ApiClient.fromStoredLogin();
    if (context === '/dev/null') throw new CliError('a build needs a source context');
    const run = await client.call<RunRecord>('POST', '/api/v1/runs', {
      type: 'build',
      ...(await sourceFields(client, context, o.gitAccessToken)),
      tags: o.image ?? [],
      dockerfile: o.file,
      buildArgs: keyValues(o.buildArg, '--build-arg'),
      secretBuildArgs: keyValues(o.secretBuildArg, '--secret-build-arg'),
      ...(o.target ? { target: o.target } : {}),
      ...(o.platform ? { platform: o.platform } : {}),
      noPush: !o.push,
      ...(o.timeout ? { timeout: Number(o.timeout) } : {}),
    });
    const format = outputFormat(o);
    if (!o.wait) return print(format, run, runColumns);
    const done = await followRun(client, run.id, o.logs && format === 'table');
    if (isDataFormat(format)) print(format, done, runColumns);
    finish(done);
  });

  withOutput(
    program
      .command('run <context>')
      .description('run a command (--cmd) or a multi-step task file (-f) on the server (az acr run); context may be /dev/null')
      .option('--cmd <command>', 'IMAGE [ARGS...], {{.Run.ID}} allowed')
      .option('-f, --file <task.yaml>', 'an acr-task.yaml file (- for standard input)')
      .option('--set <key=value>', 'a value for {{.Values.key}} (repeatable; wins over --values)', collect, [])
      .option('--set-secret <key=value>', 'a secret value for {{.Values.key}} (also {{.Secrets.key}}), masked in logs (repeatable)', collect, [])
      .option('--values <file.yaml>', 'a YAML file of values')
      .option('--git-access-token <token>', 'token for a private git context')
      .option('--platform <platform>', 'os/architecture[/variant] (default linux/amd64)')
      .option('--no-logs', 'do not stream the log')
      .option('--no-wait', 'return once the run is queued')
      .option('--timeout <seconds>', 'run timeout (default 3600)'),
  ).action(async (context: string, o: { platform?: string; gitAccessToken?: string; cmd?: string; file?: string; set: string[]; setSecret: string[]; values?: string; logs: boolean; wait: boolean; timeout?: string; output?: string }) => {
    if (Boolean(o.cmd) === Boolean(o.file)) throw new CliError('give either --cmd or -f');
    const client = ApiClient.fromStoredLogin();
    // With a git or tarball context, -f names a file in that source (as in ACR), read by the agent.
    const remote = isRemoteContext(context) && o.file !== '-';
    const taskFile = o.file && !remote ? readTaskFile(o.file, context) : null;
    const values = { ...(o.values ? (parseYaml(readFileSync(o.values, 'utf8')) as Record<string, unknown>) : {}), ...keyValues(o.set, '--set') };
    const source = context === '/dev/null' ? {} : await sourceFields(client, context, o.gitAccessToken);
    const common = { ...source, ...(o.platform ? { platform: o.platform } : {}), ...(o.timeout ? { timeout: Number(o.timeout) } : {}) };
    const run = await client.call<RunRecord>(
      'POST',
      '/api/v1/runs',
      o.file ? { type: 'file', ...(remote ? { taskFilePath: o.file } : { taskFile }), values, secrets: keyValues(o.setSecret, '--set-secret'), ...common } : { type: 'cmd', command: o.cmd, ...common },
    );
    const format = outputFormat(o);
    if (!o.wait) return print(format, run, runColumns);
    const done = await followRun(client, run.id, o.logs && format === 'table');
    if (isDataFormat(format)) print(format, done, runColumns);
    finish(done);
  });

  // `berth task` itself is registered by the task commands; the run-related subcommands join it.
  const task = program.commands.find((c) => c.name() === 'task') ?? program.command('task').description('tasks and runs (az acr task)');
  withOutput(
    task
      .command('list-runs')
      .description('runs, newest first')
      .option('-n, --name <task>', 'runs of this task')
      .option('--run-status <status>', 'Queued, Running, Succeeded, Failed, Canceled, Error, Timeout')
      .option('--image <repo:tag>', 'runs that produced this image')
      .option('--top <n>', 'at most this many', '15'),
  ).action(async (o: { name?: string; runStatus?: string; image?: string; top: string; output?: string }) => {
    const query = new URLSearchParams({ top: o.top });
    if (o.name) query.set('task', o.name);
    if (o.runStatus) query.set('status', o.runStatus);
    if (o.image) query.set('image', o.image);
    print(outputFormat(o), await ApiClient.fromStoredLogin().call<RunRecord[]>('GET', `/api/v1/runs?${query}`), runColumns);
  });
  withOutput(task.command('show-run').description('one run').requiredOption('--run-id <id>', 'run id')).action(async (o: { runId: string; output?: string }) => {
    print(outputFormat(o), await ApiClient.fromStoredLogin().call<RunRecord>('GET', `/api/v1/runs/${encodeURIComponent(o.runId)}`), [
      ...runColumns,
      ['OUTPUT IMAGES', (r) => r.outputImages.map((i) => `${i.repository}:${i.tag}@${i.digest}`)],
      ['ERROR', (r) => r.error],
    ]);
  });
  withOutput(
    task
      .command('logs')
      .description("a run's log (follows a live run); without --run-id the latest run's, of a task with -n, as az acr task logs")
      .option('--run-id <id>', 'run id')
      .option('-n, --name <task>', 'the latest run of this task')
      .option('--image <repo:tag>', 'the latest run that produced this image'),
  ).action(async (o: { runId?: string; name?: string; image?: string }) => {
      const client = ApiClient.fromStoredLogin();
      let runId = o.runId;
      if (!runId) {
        const query = new URLSearchParams({ top: '1', ...(o.name ? { task: o.name } : {}), ...(o.image ? { image: o.image } : {}) });
        const [latest] = await client.call<RunRecord[]>('GET', `/api/v1/runs?${query}`);
        if (!latest) throw new CliError(`no run${o.name ? ` of task ${o.name}` : ''}${o.image ? ` producing ${o.image}` : ''} yet`);
        runId = latest.id;
      }
      const response = await client.raw('GET', `/api/v1/runs/${encodeURIComponent(runId)}/logs?follow=true`);
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) process.stdout.write(chunk);
    });
  withOutput(task.command('cancel-run').description('stop a run now').requiredOption('--run-id <id>', 'run id')).action(async (o: { runId: string; output?: string }) => {
    print(outputFormat(o), await ApiClient.fromStoredLogin().call<RunRecord>('POST', `/api/v1/runs/${encodeURIComponent(o.runId)}/cancel`), runColumns);
  });
}
