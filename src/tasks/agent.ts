import { randomUUID } from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyBaseLogger } from 'fastify';
import type { ContextStore } from './context-store.js';
import type { RunService } from './run-service.js';
import type { OutputImage, RunRecord, RunStatus, RunStore, StepRecord } from './run-store.js';
import type { RegistryLogin, RunEnvironment, TaskRunner } from './task-runner.js';
import { renderRunTemplate, runDate, shellWords, type RunVariables } from './templating.js';
import { splitReference } from './docker/docker-runner.js';
import { parseTaskFile, placeholderSecrets } from './task-file.js';
import { executeTask } from './task-executor.js';
import { RunLog } from './run-log.js';

/** What a run may use besides its own registry token: stored secrets and its task's credentials. */
export interface RunResources {
  secret(name: string): Promise<string>;
  taskLogins(taskName: string): Promise<RegistryLogin[]>;
  /** cmd image aliases (`bash`, `curl`, ...), configured because this machine pulls from no public registry. */
  imageAliases: Record<string, string>;
}

/** Short-lived registry credentials for one run, limited to what it needs. */
export interface RunCredentialIssuer {
  issue(runId: string, pushRepositories: string[], ttlSeconds: number): Promise<{ username: string; password: string } | null>;
  revoke(runId: string): Promise<void>;
}

class RunStopped extends Error {
  constructor(readonly status: 'Canceled' | 'Timeout', message: string) {
    super(message);
  }
}

const leaseSeconds = 30;

/**
 * Takes queued runs and executes them through a TaskRunner. Several agents may share one store:
 * claiming is atomic, and a run whose agent dies is marked Error when its lease runs out.
 */
export class RunAgent {
  readonly id = `agent-${randomUUID().slice(0, 8)}`;
  private timer: NodeJS.Timeout | null = null;
  private readonly active = new Map<string, Promise<void>>();
  private polling = false;

  constructor(
    private readonly store: RunStore,
    private readonly runs: RunService,
    private readonly contexts: ContextStore,
    private readonly runner: TaskRunner,
    private readonly credentials: RunCredentialIssuer,
    private readonly registryHost: () => string,
    private readonly resources: RunResources,
    private readonly log: FastifyBaseLogger,
    /** Run logs are deleted this long after their run ended (ACR keeps 30 days). */
    private readonly logRetentionDays = 30,
    private readonly maxConcurrentRuns = 2,
  ) {}

  private lastLogSweep = 0;

  start(): void {
    this.timer = setInterval(() => void this.poll(), 500);
    this.timer.unref();
    void this.poll();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await Promise.allSettled(this.active.values());
  }

  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      for (const id of await this.store.expireLeases()) this.log.warn({ run: id }, 'run lost its agent; marked Error');
      if (Date.now() - this.lastLogSweep > 60_000) {
        this.lastLogSweep = Date.now();
        const removed = await this.store.deleteLogsBefore(new Date(Date.now() - this.logRetentionDays * 86_400_000).toISOString());
        if (removed > 0) this.log.info({ runs: removed }, 'deleted expired run logs');
      }
      while (this.timer && this.active.size < this.maxConcurrentRuns) {
        const run = await this.store.claimRun(this.id, leaseSeconds);
        if (!run) break;
        const work = this.execute(run).finally(() => this.active.delete(run.id));
        this.active.set(run.id, work);
      }
    } catch (error) {
      this.log.error({ err: error }, 'agent poll failed');
    } finally {
      this.polling = false;
    }
  }

  private async execute(run: RunRecord): Promise<void> {
    const started = Date.now();
    const secrets = this.runs.takeSecrets(run.id);
    const logger = new RunLog(this.store, run.id, Object.values(secrets));
    const controller = new AbortController();
    const timeout = setTimeout(() => controller.abort(new RunStopped('Timeout', `the run exceeded its timeout of ${run.timeoutSeconds}s`)), run.timeoutSeconds * 1000);
    const watch = setInterval(() => {
      void this.store.renewLease(run.id, this.id, leaseSeconds);
      void this.store.getRun(run.id).then((current) => {
        if (current?.cancelRequested && !controller.signal.aborted) controller.abort(new RunStopped('Canceled', 'the run was canceled'));
      });
    }, 1000);
    let env: RunEnvironment | null = null;
    let temporaryImages: string[] = [];
    const steps: StepRecord[] = [];
    const outputImages: OutputImage[] = [];
    let status: RunStatus = 'Succeeded';
    let error: string | null = null;
    try {
      logger.write(`Run ID: ${run.id} started on ${this.id}\n`);
      await this.store.updateRun(run.id, { startedAt: new Date(started).toISOString() });
      const vars = this.variables(run);
      env = await this.runner.prepare(run.id, this.id);
      if (run.spec.kind === 'build') {
        const spec = run.spec;
        const tags = spec.tags.map((t) => this.qualify(renderRunTemplate(t, vars)));
        temporaryImages = tags;
        const login = await this.credentials.issue(run.id, tags.map((t) => splitReference(t)[0].slice(this.registryHost().length + 1)), run.timeoutSeconds + 300);
        const logins: RegistryLogin[] = [...(login ? [{ server: this.registryHost(), ...login }] : []), ...(run.taskName ? await this.resources.taskLogins(run.taskName) : [])];
        const buildArgs = Object.fromEntries(Object.entries(spec.buildArgs).map(([k, v]) => [k, renderRunTemplate(v, vars)]));
        await this.step(steps, run.id, 'build', async () => {
          const context = await this.contexts.open(spec.contextId);
          await this.runner.build(env!, { context, dockerfile: spec.dockerfile, tags: tags.length ? tags : [`berth-run-${run.id}:build`], buildArgs: { ...buildArgs, ...secrets }, target: spec.target, logins }, logger.sink, controller.signal);
          if (!tags.length) temporaryImages = [`berth-run-${run.id}:build`];
          return 0;
        });
        if (!spec.noPush) {
          await this.step(steps, run.id, 'push', async () => {
            for (const tag of tags) {
              logger.write(`Pushing ${tag}\n`);
              const digest = await this.runner.push(env!, tag, logins[0] ?? null, logger.sink, controller.signal);
              const [name, version] = splitReference(tag);
              outputImages.push({ registry: this.registryHost(), repository: name.slice(this.registryHost().length + 1), tag: version, digest });
            }
            return 0;
          });
        }
      } else if (run.spec.kind === 'file') {
        const spec = run.spec;
        const runVars = { ...vars, SharedVolume: env.volume };
        // A first render learns which stored secrets the file names; the second uses their values.
        const refs = parseTaskFile(spec.taskFile, { Run: runVars, Values: spec.values, Secrets: placeholderSecrets }).secretRefs;
        for (const ref of refs) {
          secrets[ref.id] ??= await this.resources.secret(ref.secret);
          logger.mask(secrets[ref.id]!);
        }
        const task = parseTaskFile(spec.taskFile, { Run: runVars, Values: spec.values, Secrets: secrets });
        // Secret volume contents are secrets too.
        for (const volume of task.volumes) for (const content of Object.values(volume.files)) logger.mask(content.trim());
        const host = this.registryHost();
        const rendered = JSON.stringify(task.steps);
        const pushRepositories = [
          ...[...rendered.matchAll(new RegExp(`${host.replace(/[.]/g, '\\.')}/([a-z0-9._/-]+?)(?=[:@\\s"]|$)`, 'g'))].map((m) => m[1]!),
          ...importTargets(task.steps.map((s) => s.cmd)),
        ];
        const login = await this.credentials.issue(run.id, pushRepositories, run.timeoutSeconds + 300);
        const logins: RegistryLogin[] = [...(login ? [{ server: host, ...login }] : []), ...(run.taskName ? await this.resources.taskLogins(run.taskName) : [])];
        for (const extra of logins.slice(login ? 1 : 0)) logger.mask(extra.password);
        if (spec.contextId) await this.runner.loadWorkspace(env, await this.contexts.open(spec.contextId));
        const outcome = await executeTask(task, {
          runner: this.runner,
          env,
          logins,
          registryHost: host,
          log: logger.sink,
          signal: controller.signal,
          onStepsChanged: (current) => this.store.updateRun(run.id, { steps: current }),
          imageAliases: this.resources.imageAliases,
          berthCli: (args, log, signal) => this.berthCli(args, logins.find((l) => l.server === host) ?? null, log, signal),
        }).finally(() => undefined);
        steps.push(...outcome.steps);
        outputImages.push(...outcome.outputImages);
        temporaryImages = outcome.builtImages;
        if (outcome.failed) {
          status = 'Failed';
          error = outcome.failed;
        }
      } else {
        const words = shellWords(renderRunTemplate(run.spec.command, vars));
        const login = await this.credentials.issue(run.id, [], run.timeoutSeconds + 300);
        const logins: RegistryLogin[] = login ? [{ server: this.registryHost(), ...login }] : [];
        const contextId = run.spec.contextId;
        const exitCode = await this.step(steps, run.id, 'cmd', async () => {
          const context = contextId ? await this.contexts.open(contextId) : null;
          return this.runner.run(env!, { image: words[0]!, args: words.slice(1), context, env: [], logins }, logger.sink, controller.signal);
        });
        if (exitCode !== 0) {
          status = 'Failed';
          error = `the command exited with ${exitCode}`;
        }
      }
    } catch (caught) {
      const reason = controller.signal.aborted ? controller.signal.reason : caught;
      if (reason instanceof RunStopped) status = reason.status;
      else status = 'Failed';
      error = reason instanceof Error ? reason.message : String(reason);
    } finally {
      clearTimeout(timeout);
      clearInterval(watch);
      if (env) await this.runner.cleanup(env, temporaryImages).catch((e: unknown) => this.log.error({ err: e, run: run.id }, 'run cleanup failed'));
      await this.credentials.revoke(run.id).catch(() => undefined);
      // A quick run's uploaded context is done with; a task keeps its own for the next run.
      if (run.spec.contextId && run.taskName === null) await this.contexts.delete(run.spec.contextId).catch(() => undefined);
      const seconds = Math.round((Date.now() - started) / 1000);
      logger.write(status === 'Succeeded' ? `Run ID: ${run.id} was successful after ${seconds}s\n` : `Run ID: ${run.id} failed after ${seconds}s. Error: ${error}\n`);
      await logger.close();
      await this.store.updateRun(run.id, { status, error, outputImages, steps, finishedAt: new Date().toISOString() });
      const finished = await this.store.getRun(run.id);
      if (finished) this.runs.changed(finished);
    }
  }

  /** Runs Berth's CLI beside the agent with a config of its own, logged in with the run's token. */
  private async berthCli(args: string[], login: RegistryLogin | null, log: (text: string) => void, signal: AbortSignal): Promise<number> {
    const configDir = await mkdtemp(join(tmpdir(), 'berth-run-cli-'));
    const env = { ...process.env, BERTH_CONFIG_DIR: configDir };
    const cli = fileURLToPath(new URL('../cli/main.js', import.meta.url));
    const spawnCli = (cliArgs: string[], quiet: boolean) =>
      new Promise<number>((resolve, reject) => {
        const child = spawn(process.execPath, [cli, ...cliArgs], { env, stdio: ['ignore', 'pipe', 'pipe'] });
        const forward = (chunk: Buffer) => (quiet ? undefined : log(chunk.toString('utf8')));
        child.stdout.on('data', forward);
        child.stderr.on('data', forward);
        const kill = () => child.kill('SIGTERM');
        signal.addEventListener('abort', kill, { once: true });
        child.on('error', reject);
        child.on('close', (code) => {
          signal.removeEventListener('abort', kill);
          resolve(code ?? 1);
        });
      });
    try {
      await spawnCli(['login', `http://${this.registryHost()}`, '-u', login?.username ?? 'run', '-p', login?.password ?? 'none'], true);
      return await spawnCli(args, false);
    } finally {
      await rm(configDir, { recursive: true, force: true });
    }
  }

  /** Runs one step, recording its status and duration; a non-zero result or a throw fails it. */
  private async step(steps: StepRecord[], runId: string, id: string, work: () => Promise<number>): Promise<number> {
    const step: StepRecord = { id, status: 'Running', startedAt: new Date().toISOString(), finishedAt: null, exitCode: null };
    steps.push(step);
    await this.store.updateRun(runId, { steps });
    try {
      const exitCode = await work();
      step.exitCode = exitCode;
      step.status = exitCode === 0 ? 'Succeeded' : 'Failed';
      return exitCode;
    } catch (error) {
      step.status = error instanceof RunStopped ? error.status : 'Failed';
      throw error;
    } finally {
      step.finishedAt = new Date().toISOString();
      await this.store.updateRun(runId, { steps });
    }
  }

  private variables(run: RunRecord): RunVariables {
    const registry = this.registryHost();
    return {
      ID: run.id,
      Registry: registry,
      RegistryName: registry.split('.')[0]!.split(':')[0]!,
      Date: runDate(new Date()),
      OS: 'linux',
      Architecture: process.arch === 'x64' ? 'amd64' : process.arch,
      TaskName: run.taskName ?? '',
      Commit: '',
      Branch: '',
    };
  }

  /** ACR's quick-build rule: a tag without a registry gets this registry's host. */
  private qualify(tag: string): string {
    const first = tag.split('/')[0]!;
    const hasRegistry = tag.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
    return hasRegistry ? tag : `${this.registryHost()}/${tag}`;
  }
}

/** Repositories a `berth import` / `acr import` step writes to (its run token may push there). */
function importTargets(commands: string[]): string[] {
  const repositories: string[] = [];
  for (const command of commands) {
    const words = command ? shellWords(command) : [];
    if (!['berth', 'acr'].includes(words[0] ?? '') || words[1] !== 'import') continue;
    for (let i = 2; i < words.length; i++) {
      if (['-t', '--image'].includes(words[i]!)) repositories.push(words[++i]!.split(':')[0]!);
      else if (words[i] === '--repository') repositories.push(words[++i]!);
    }
  }
  return repositories;
}
