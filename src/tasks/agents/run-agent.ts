import { randomUUID } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import type { BaseImageUse, OutputImage, RunRecord, RunStatus, StepRecord } from '../run-store.js';
import { baseImageUses, mergeBaseImages, refreshBases } from '../build-bases.js';
import { spoolArchive } from '../sources/spooled-archive.js';
import type { RegistryLogin, RunEnvironment, TaskRunner } from '../task-runner.js';
import { renderRunTemplate, runDate, shellWords, type RunVariables } from '../templating.js';
import { splitReference } from '../docker/docker-runner.js';
import { aliasSources, parseTaskFile, placeholderSecrets } from '../task-file.js';
import { readArchiveFile } from '../sources/context-archive.js';
import { executeTask } from '../task-executor.js';
import { RunLog } from '../run-log.js';
import type { AgentBackend, ClaimedRun } from './agent-backend.js';
import { runBerthCli } from './berth-cli.js';
import { purgeRepositoryRegexes } from '../../lifecycle/purge-options.js';
import { fetchSource, parseSourceLocation, type FetchedSource } from '../sources/remote-source.js';
import type { Readable } from 'node:stream';
import { defaultPlatform, normalizePlatform, platformParts } from '../platform.js';
import type { EgressPolicy } from '../../network/egress.js';

export type AgentLogger = Pick<FastifyBaseLogger, 'info' | 'warn' | 'error'>;

class RunStopped extends Error {
  constructor(readonly status: 'Canceled' | 'Timeout', message: string) {
    super(message);
  }
}

/** What one execution accumulates; reported to the server as the run goes and when it ends. */
interface Execution {
  run: RunRecord;
  secrets: Record<string, string>;
  imageAliases: Record<string, string>;
  env: RunEnvironment;
  logger: RunLog;
  signal: AbortSignal;
  steps: StepRecord[];
  outputImages: OutputImage[];
  /** What its builds were built FROM, with the digests the engine used. */
  baseImages: BaseImageUse[];
  temporaryImages: string[];
  /** A git or tarball context, fetched at the start; null for uploaded contexts (and none). */
  source: FetchedSource | null;
}

/**
 * Takes queued runs from a backend and executes them through a TaskRunner. The in-process agent
 * and remote agents are this same class over different backends; claiming is atomic, and a run
 * whose agent dies is marked Error by the server when its lease runs out.
 */
export class RunAgent {
  readonly id: string;
  private timer: NodeJS.Timeout | null = null;
  private readonly active = new Map<string, Promise<void>>();
  private polling = false;
  /** What this agent runs: its engine's own platform, plus any it was told it emulates. */
  private platforms: string[] = [];

  constructor(
    private readonly backend: AgentBackend,
    private readonly runner: TaskRunner,
    private readonly log: AgentLogger,
    private readonly maxConcurrentRuns: number,
    name: string | undefined,
    private readonly extraPlatforms: string[],
    /** Tarball contexts and alias src URLs are fetched through it (the server's, or a remote agent's own). */
    private readonly egress: EgressPolicy,
  ) {
    this.id = name ?? `agent-${randomUUID().slice(0, 8)}`;
  }

  /** Ends what an earlier life of this agent left (runs on the server, objects on the engine), then takes runs. */
  async start(): Promise<void> {
    const abandoned = await this.backend.started(this.id).catch((error: unknown) => {
      this.log.error({ err: error }, 'could not report the start of this agent');
      return [];
    });
    if (abandoned.length > 0) this.log.warn({ runs: abandoned }, 'runs this agent held before it restarted were marked Error');
    const removed = await this.runner.removeOrphans(this.id).catch((error: unknown) => {
      this.log.error({ err: error }, 'could not remove orphaned run objects');
      return 0;
    });
    if (removed > 0) this.log.warn({ removed }, 'removed containers, networks and volumes left by an earlier life of this agent');
    const native = await this.runner.nativePlatform().catch(() => defaultPlatform);
    this.platforms = [...new Set([native, ...this.extraPlatforms.map(normalizePlatform)])];
    this.timer = setInterval(() => void this.poll(), 500);
    this.timer.unref();
    void this.poll();
  }

  /** Stops claiming and waits for the runs in progress. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await Promise.allSettled(this.active.values());
  }

  get running(): number {
    return this.active.size;
  }

  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      while (this.timer && this.active.size < this.maxConcurrentRuns) {
        const claimed = await this.backend.claim(this.id, this.platforms);
        if (!claimed) break;
        const work = this.execute(claimed).finally(() => this.active.delete(claimed.run.id));
        this.active.set(claimed.run.id, work);
      }
    } catch (error) {
      this.log.error({ err: error }, 'agent poll failed');
    } finally {
      this.polling = false;
    }
  }

  private async execute({ run, secrets, imageAliases, gitAccessToken }: ClaimedRun): Promise<void> {
    const started = Date.now();
    const backend = this.backend;
    const logger = new RunLog({ appendLog: (id, text) => backend.appendLog(id, this.id, text) }, run.id, [...Object.values(secrets), gitAccessToken ?? '']);
    const controller = new AbortController();
    const timeout = setTimeout(() => controller.abort(new RunStopped('Timeout', `the run exceeded its timeout of ${run.timeoutSeconds}s`)), run.timeoutSeconds * 1000);
    const watch = setInterval(() => {
      void backend.heartbeat(run.id, this.id).then(
        ({ held, cancelRequested }) => {
          if (!held && !controller.signal.aborted) controller.abort(new Error('the run was taken from this agent (lease lost)'));
          if (cancelRequested && !controller.signal.aborted) controller.abort(new RunStopped('Canceled', 'the run was canceled'));
        },
        (error: unknown) => this.log.warn({ err: error, run: run.id }, 'lease renewal failed'),
      );
    }, 1000);
    let execution: Execution | null = null;
    let status: RunStatus = 'Succeeded';
    let error: string | null = null;
    try {
      logger.write(`Run ID: ${run.id} started on ${this.id}\n`);
      await backend.progress(run.id, this.id, { startedAt: new Date(started).toISOString() });
      const env = await this.runner.prepare(run.id, this.id);
      execution = { run, secrets, imageAliases, env, logger, signal: controller.signal, steps: [], outputImages: [], baseImages: [], temporaryImages: [], source: null };
      if (run.spec.contextUrl) {
        // A commit trigger's run builds the pushed commit, not whatever the branch has moved to since.
        const pin = run.spec.commit ? { commit: run.spec.commit, branch: run.spec.branch ?? null } : null;
        execution.source = await fetchSource(parseSourceLocation(run.spec.contextUrl), gitAccessToken, controller.signal, logger.sink, this.egress, pin);
      }
      const failure = run.spec.kind === 'build' ? await this.build(execution) : run.spec.kind === 'file' ? await this.taskFile(execution) : await this.command(execution);
      if (failure) {
        status = 'Failed';
        error = failure;
      }
    } catch (caught) {
      const reason: unknown = controller.signal.aborted ? controller.signal.reason : caught;
      status = reason instanceof RunStopped ? reason.status : 'Failed';
      error = reason instanceof Error ? reason.message : String(reason);
    } finally {
      clearTimeout(timeout);
      clearInterval(watch);
      if (execution) await this.runner.cleanup(execution.env, execution.temporaryImages).catch((e: unknown) => this.log.error({ err: e, run: run.id }, 'run cleanup failed'));
      await execution?.source?.dispose();
      const seconds = Math.round((Date.now() - started) / 1000);
      logger.write(status === 'Succeeded' ? `Run ID: ${run.id} was successful after ${seconds}s\n` : `Run ID: ${run.id} failed after ${seconds}s. Error: ${error}\n`);
      await logger.close();
      await backend
        .finish(run.id, this.id, { status, error, outputImages: execution?.outputImages ?? [], baseImages: execution?.baseImages ?? [], steps: execution?.steps ?? [] })
        .catch((e: unknown) => this.log.error({ err: e, run: run.id }, 'could not record the end of the run'));
    }
  }

  /** A quick build (or a single-build task): build, then push every tag. Returns a failure or null. */
  private async build(x: Execution): Promise<string | null> {
    if (x.run.spec.kind !== 'build') throw new Error('not a build');
    const spec = x.run.spec;
    const host = this.backend.registry().host;
    const vars = this.variables(x);
    const tags = spec.tags.map((t) => lowerCaseRepository(this.qualify(renderRunTemplate(t, vars))));
    x.temporaryImages = tags.length ? tags : [`berth-run-${x.run.id}:build`];
    const logins = await this.logins(x, tags.map((t) => splitReference(t)[0].slice(host.length + 1)));
    const buildArgs = Object.fromEntries(Object.entries(spec.buildArgs).map(([k, v]) => [k, renderRunTemplate(v, vars)]));
    await this.step(x, 'build', async () => {
      // An uploaded context is kept in a file: its Dockerfile is read before the engine gets it.
      const spooled = x.source ? null : await spoolArchive(await this.openSource(x));
      try {
        const dockerfile = await (x.source ? x.source.readFile(spec.dockerfile) : spooled!.readFile(spec.dockerfile)).catch(() => null);
        const platform = this.foreignPlatform(x.run);
        const planned = await refreshBases(dockerfile, { buildArgs, target: spec.target, ...platform }, new Set(), { runner: this.runner, env: x.env, logins, log: x.logger.sink, signal: x.signal });
        const context = x.source ? x.source.archive() : spooled!.open();
        await this.runner.build(
          x.env,
          { context, dockerfile: spec.dockerfile, tags: x.temporaryImages, buildArgs: { ...buildArgs, ...x.secrets }, target: spec.target, logins, ...platform },
          x.logger.sink,
          x.signal,
        );
        mergeBaseImages(x.baseImages, await baseImageUses(this.runner, planned));
      } finally {
        await spooled?.dispose();
      }
      return 0;
    });
    if (spec.noPush) return null;
    await this.step(x, 'push', async () => {
      for (const tag of tags) {
        x.logger.write(`Pushing ${tag}\n`);
        const digest = await this.runner.push(x.env, tag, logins[0] ?? null, x.logger.sink, x.signal);
        const [name, version] = splitReference(tag);
        x.outputImages.push({ registry: host, repository: name.slice(host.length + 1), tag: version, digest });
      }
      return 0;
    });
    return null;
  }

  /** `berth run -f` and file tasks: the task file's step graph. */
  private async taskFile(x: Execution): Promise<string | null> {
    if (x.run.spec.kind !== 'file') throw new Error('not a task file');
    const spec = x.run.spec;
    const runVars = { ...this.variables(x), SharedVolume: x.env.volume };
    // As in ACR, --set-secret values are values too ({{.Values.k}}), besides {{.Secrets.k}}.
    const values = { ...spec.values, ...x.secrets };
    // A first render learns which stored secrets the file names; the second uses their values.
    const text = spec.taskFile ?? (await x.source!.readFile(spec.taskFilePath!));
    const aliasFiles = await this.aliasFiles(x, aliasSources(text));
    const refs = parseTaskFile(text, { Run: runVars, Values: values, Secrets: placeholderSecrets }, aliasFiles).secretRefs;
    for (const ref of refs) {
      x.secrets[ref.id] ??= await this.backend.secret(x.run.id, this.id, ref.secret);
      x.logger.mask(x.secrets[ref.id]!);
    }
    const task = parseTaskFile(text, { Run: runVars, Values: values, Secrets: x.secrets }, aliasFiles);
    // Secret volume contents are secrets too.
    for (const volume of task.volumes) for (const content of Object.values(volume.files)) x.logger.mask(content.trim());
    const { host, scheme } = this.backend.registry();
    const rendered = JSON.stringify(task.steps);
    const pushRepositories = [
      ...[...rendered.matchAll(new RegExp(`${host.replace(/[.]/g, '\\.')}/([a-z0-9._/-]+?)(?=[:@\\s"]|$)`, 'g'))].map((m) => m[1]!),
      ...importTargets(task.steps.map((s) => s.cmd)),
    ];
    const logins = await this.logins(x, pushRepositories, purgeTargets(task.steps.map((s) => s.cmd)));
    if (spec.contextId || spec.contextUrl) await this.runner.loadWorkspace(x.env, await this.openSource(x));
    const outcome = await executeTask(task, {
      runner: this.runner,
      env: x.env,
      logins,
      registryHost: host,
      log: x.logger.sink,
      signal: x.signal,
      onStepsChanged: (current) => this.backend.progress(x.run.id, this.id, { steps: current }),
      imageAliases: x.imageAliases,
      egress: this.egress,
      berthCli: (args, log, signal) => runBerthCli(args, `${scheme}://${host}`, logins.find((l) => l.server === host) ?? null, log, signal),
    });
    x.steps.push(...outcome.steps);
    x.outputImages.push(...outcome.outputImages);
    mergeBaseImages(x.baseImages, outcome.baseImages);
    x.temporaryImages = outcome.builtImages;
    return outcome.failed;
  }

  /** alias `src` entries: URLs (2 s to answer, as in ACR) or files of the run's source. */
  private async aliasFiles(x: Execution, sources: string[]): Promise<Record<string, string>> {
    const files: Record<string, string> = {};
    for (const src of sources) {
      if (/^https?:\/\//i.test(src)) {
        const controller = new AbortController();
        const timer = setTimeout(() => controller.abort(), 2000);
        try {
          const response = await this.egress.fetch(src, { signal: controller.signal, redirect: 'any-origin' });
          if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
          files[src] = await response.text();
        } catch (error) {
          throw new Error(`alias src ${src} could not be fetched: ${(error as Error).message}`);
        } finally {
          clearTimeout(timer);
        }
      } else if (x.source) {
        files[src] = await x.source.readFile(src);
      } else if (x.run.spec.contextId) {
        const content = await readArchiveFile(await this.backend.openContext(x.run.id, this.id), src);
        if (content === null) throw new Error(`alias src "${src}" is not in the source context`);
        files[src] = content;
      } else {
        throw new Error(`alias src "${src}" names a file, but the run has no source context`);
      }
    }
    return files;
  }

  /** `berth run --cmd`: one container. */
  private async command(x: Execution): Promise<string | null> {
    if (x.run.spec.kind !== 'cmd') throw new Error('not a command');
    const words = shellWords(renderRunTemplate(x.run.spec.command, this.variables(x)));
    const logins = await this.logins(x, importTargets([words.join(' ')]), purgeTargets([words.join(' ')]));
    const hasContext = Boolean(x.run.spec.contextId || x.run.spec.contextUrl);
    const { host, scheme } = this.backend.registry();
    // `berth run --cmd "acr purge ..." /dev/null`: the built-in, as in a task file's cmd step.
    if (words[0] === 'berth' || words[0] === 'acr') {
      const code = await this.step(x, 'cmd', () => runBerthCli(words.slice(1), `${scheme}://${host}`, logins.find((l) => l.server === host) ?? null, x.logger.sink, x.signal));
      return code === 0 ? null : `the command exited with ${code}`;
    }
    const exitCode = await this.step(x, 'cmd', async () => {
      const context = hasContext ? await this.openSource(x) : null;
      return this.runner.run(x.env, { image: words[0]!, args: words.slice(1), context, env: [], logins }, x.logger.sink, x.signal);
    });
    return exitCode === 0 ? null : `the command exited with ${exitCode}`;
  }

  /** This registry's run token first, then the task's credentials for other registries (masked). */
  private async logins(x: Execution, pushRepositories: string[], purgeRepositories: string[] = []): Promise<RegistryLogin[]> {
    const login = await this.backend.issueLogin(x.run.id, this.id, pushRepositories, purgeRepositories);
    const others = await this.backend.taskLogins(x.run.id, this.id);
    for (const other of others) x.logger.mask(other.password);
    return [...(login ? [{ server: this.backend.registry().host, ...login }] : []), ...others];
  }

  /** Runs one step, recording its status and duration; a non-zero result or a throw fails it. */
  private async step(x: Execution, id: string, work: () => Promise<number>): Promise<number> {
    const step: StepRecord = { id, status: 'Running', startedAt: new Date().toISOString(), finishedAt: null, exitCode: null };
    x.steps.push(step);
    await this.backend.progress(x.run.id, this.id, { steps: x.steps });
    try {
      const exitCode = await work();
      step.exitCode = exitCode;
      step.status = exitCode === 0 ? 'Succeeded' : 'Failed';
      return exitCode;
    } catch (error) {
      const reason: unknown = x.signal.aborted ? x.signal.reason : error;
      step.status = reason instanceof RunStopped ? reason.status : 'Failed';
      throw error;
    } finally {
      step.finishedAt = new Date().toISOString();
      await this.backend.progress(x.run.id, this.id, { steps: x.steps });
    }
  }

  /** The platform to ask the engine for, when the run's is not the engine's own (emulation). */
  private foreignPlatform(run: RunRecord): { platform?: string } {
    const platform = normalizePlatform(run.platform);
    return platform === this.platforms[0] ? {} : { platform };
  }

  /** The run's source as a tar stream: fetched from its URL, or the uploaded archive from the server. */
  private openSource(x: Execution): Promise<Readable> {
    return x.source ? Promise.resolve(x.source.archive()) : this.backend.openContext(x.run.id, this.id);
  }

  private variables({ run, source }: Execution): RunVariables {
    const registry = this.backend.registry().host;
    return {
      ID: run.id,
      Registry: registry,
      RegistryName: registry.split('.')[0]!.split(':')[0]!,
      Date: runDate(new Date()),
      OS: platformParts(run.platform).os,
      Architecture: platformParts(run.platform).architecture,
      TaskName: run.taskName ?? '',
      // A pinned checkout's full id (verified to be spec.commit) and the branch the trigger named.
      Commit: source?.commit || run.spec.commit || '',
      Branch: source?.branch || run.spec.branch || '',
      ...triggerImage(run),
    };
  }

  /** ACR's quick-build rule: a tag without a registry gets this registry's host. */
  private qualify(tag: string): string {
    const first = tag.split('/')[0]!;
    const hasRegistry = tag.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
    return hasRegistry ? tag : `${this.backend.registry().host}/${tag}`;
  }
}

/**
 * Repository names are lower case (OCI distribution spec; the engine refuses others), tags are
 * not: `--image YourApp:latest` (seed 000, as ACR users write it) pushes yourapp:latest.
 */
export function lowerCaseRepository(reference: string): string {
  const slash = reference.indexOf('/');
  const rest = reference.slice(slash + 1);
  const at = rest.search(/[:@]/);
  const repository = at < 0 ? rest : rest.slice(0, at);
  return `${reference.slice(0, slash + 1)}${repository.toLowerCase()}${at < 0 ? '' : rest.slice(at)}`;
}

/** Repositories a `berth import` / `acr import` step writes to (its run token may push there). */
function importTargets(commands: string[]): string[] {
  const repositories: string[] = [];
  for (const command of commands) {
    const words = command ? shellWords(command) : [];
    if (!['berth', 'acr'].includes(words[0] ?? '')) continue;
    // Tagging the next version pushes a tag, so the run's login may push that repository too.
    if (words[1] === 'repository' && words[2] === 'tag-next-version') {
      const at = words.indexOf('--repository');
      if (at > 0 && words[at + 1]) repositories.push(words[at + 1]!);
      continue;
    }
    if (words[1] !== 'import') continue;
    for (let i = 2; i < words.length; i++) {
      if (['-t', '--image'].includes(words[i]!)) repositories.push(words[++i]!.split(':')[0]!);
      else if (words[i] === '--repository') repositories.push(words[++i]!);
    }
  }
  return repositories;
}

/** The repository regexes of `berth purge` / `acr purge` steps (their run token may delete there). */
function purgeTargets(commands: string[]): string[] {
  return commands.flatMap((command) => {
    const words = command ? shellWords(command) : [];
    return ['berth', 'acr'].includes(words[0] ?? '') && words[1] === 'purge' ? purgeRepositoryRegexes(words.slice(2)) : [];
  });
}

/** `{{.Run.TriggerImage}}` / `{{.Run.TriggerTag}}`: the image update (or new tag) that queued the run. */
function triggerImage(run: RunRecord): Pick<RunVariables, 'TriggerImage' | 'TriggerTag'> {
  const image = run.imageUpdateTrigger?.images[0];
  return image ? { TriggerImage: `${image.registry}/${image.repository}:${image.tag}`, TriggerTag: image.tag } : { TriggerImage: '', TriggerTag: '' };
}
