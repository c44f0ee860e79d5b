import { posix } from 'node:path';
import { fetchSource, isRemoteContext, parseSourceLocation } from './sources/remote-source.js';
import type { BaseImageUse, OutputImage, StepRecord } from './run-store.js';
import { baseImageUses, builtImageKey, mergeBaseImages, refreshBases } from './build-bases.js';
import { spoolArchive } from './sources/spooled-archive.js';
import type { LogSink, RegistryLogin, RunEnvironment, TaskRunner } from './task-runner.js';
import type { TaskDefinition, TaskStep } from './task-file.js';
import { shellWords } from './templating.js';
import { splitReference } from './docker/docker-runner.js';
import type { EgressPolicy } from '../network/egress.js';

export interface TaskExecutionContext {
  runner: TaskRunner;
  env: RunEnvironment;
  logins: RegistryLogin[];
  registryHost: string;
  log: LogSink;
  signal: AbortSignal;
  onStepsChanged: (steps: StepRecord[]) => Promise<void>;
  /** Image aliases for the first word of a cmd (configured: e.g. bash, curl). */
  imageAliases: Record<string, string>;
  /** The `berth` / `acr` built-in: Berth's own CLI, logged in as the run. */
  berthCli: (args: string[], log: LogSink, signal: AbortSignal) => Promise<number>;
  /** Tarball contexts of build steps are fetched through it. */
  egress: EgressPolicy;
}

export interface TaskOutcome {
  failed: string | null;
  steps: StepRecord[];
  outputImages: OutputImage[];
  builtImages: string[];
  /** What the build steps were built FROM (images built by an earlier step are not bases). */
  baseImages: BaseImageUse[];
}

class StepError extends Error {
  constructor(
    message: string,
    readonly exitCode: number | null,
  ) {
    super(message);
  }
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(timer), reject(signal.reason)), { once: true });
  });

/**
 * A signal that aborts with `parent`, or after `timeoutMs`, held by strong references: Node 20's
 * AbortSignal.timeout() may be garbage-collected before it fires (its timer holds it weakly),
 * which under memory pressure silently lost step timeouts.
 */
function childSignal(parent: AbortSignal, timeoutMs?: number): { signal: AbortSignal; abort(reason: unknown): void; dispose(): void } {
  const controller = new AbortController();
  const forward = () => controller.abort(parent.reason);
  if (parent.aborted) forward();
  else parent.addEventListener('abort', forward, { once: true });
  const timer = timeoutMs === undefined ? null : setTimeout(() => controller.abort(new Error('timeout')), timeoutMs);
  return {
    signal: controller.signal,
    abort: (reason) => controller.abort(reason),
    dispose: () => {
      if (timer) clearTimeout(timer);
      parent.removeEventListener('abort', forward);
    },
  };
}

/**
 * Runs a task file's steps along their `when` graph: a step starts once every step it waits for
 * has finished; independent branches run at the same time; the first failure (without
 * ignoreErrors) stops the run. `exitedWith` / `exitedWithout` (parsed but never implemented by
 * ACR) run a step only if the steps it waits for exited with / without the listed codes;
 * otherwise it and everything after it is skipped.
 */
export async function executeTask(task: TaskDefinition, ctx: TaskExecutionContext): Promise<TaskOutcome> {
  const records = new Map<string, StepRecord>(task.steps.map((s) => [s.id, { id: s.id, status: 'Queued', startedAt: null, finishedAt: null, exitCode: null }]));
  const outcome: TaskOutcome = { failed: null, steps: [...records.values()], outputImages: [], builtImages: [], baseImages: [] };
  const stop = childSignal(ctx.signal);
  const signal = stop.signal;
  const done = new Map<string, 'ok' | 'skipped'>();
  const running = new Map<string, Promise<void>>();
  const save = () => ctx.onStepsChanged([...records.values()]);
  for (const warning of task.warnings) ctx.log(`Warning: ${warning}\n`);
  // Declared networks: created for this run (or used as they are with skipCreation).
  const networks = new Map<string, string>();
  for (const network of task.networks) {
    networks.set(network.name, network.skipCreation ? network.name : await ctx.runner.createNetwork(ctx.env, network.name, network.driver));
  }
  const defaultNetwork = [...task.networks].reverse().find((n) => n.isDefault);
  const volumes = new Map<string, string>();
  for (const volume of task.volumes) volumes.set(volume.name, await ctx.runner.createVolume(ctx.env, volume.name, volume.files));
  const networkOf = (step: TaskStep) => (step.network ? networks.get(step.network) : defaultNetwork ? networks.get(defaultNetwork.name) : undefined);

  const start = (step: TaskStep) => {
    const record = records.get(step.id)!;
    const work = (async () => {
      record.status = 'Running';
      record.startedAt = new Date().toISOString();
      await save();
      const began = Date.now();
      try {
        const mounts = step.volumeMounts.map((m) => ({ volume: volumes.get(m.name)!, mountPath: m.mountPath }));
        const code = await runStep(step, task, ctx, outcome, signal, networkOf(step), mounts);
        record.exitCode = code;
        if (code !== 0 && !step.ignoreErrors) throw new StepError(`step ${step.id} exited with ${code}`, code);
        record.status = 'Succeeded';
        ctx.log(`Step ID: ${step.id} marked as successful (elapsed time in seconds: ${Math.round((Date.now() - began) / 1000)})\n`);
        done.set(step.id, 'ok');
      } catch (error) {
        record.status = ctx.signal.aborted ? 'Canceled' : 'Failed';
        if (record.exitCode === null && error instanceof StepError) record.exitCode = error.exitCode;
        if (step.ignoreErrors && !ctx.signal.aborted) {
          record.status = 'Succeeded';
          ctx.log(`Step ID: ${step.id} failed (${(error as Error).message}) but ignoreErrors is set\n`);
          done.set(step.id, 'ok');
        } else {
          ctx.log(`Step ID: ${step.id} failed: ${(error as Error).message}\n`);
          outcome.failed ??= (error as Error).message;
          stop.abort(error);
        }
      } finally {
        record.finishedAt = new Date().toISOString();
        await save();
      }
    })();
    running.set(step.id, work.finally(() => running.delete(step.id)));
  };

  for (;;) {
    if (!outcome.failed && !ctx.signal.aborted) {
      for (const step of task.steps) {
        const record = records.get(step.id)!;
        if (record.status !== 'Queued' || !step.dependsOn.every((d) => done.has(d))) continue;
        const deps = step.dependsOn.map((d) => records.get(d)!);
        const skip =
          step.dependsOn.some((d) => done.get(d) === 'skipped') ||
          (step.exitedWith !== null && !deps.every((d) => step.exitedWith!.includes(d.exitCode ?? 0))) ||
          (step.exitedWithout !== null && deps.some((d) => step.exitedWithout!.includes(d.exitCode ?? 0)));
        if (skip) {
          record.status = 'Skipped';
          ctx.log(`Step ID: ${step.id} skipped (its conditions on ${step.dependsOn.join(', ') || 'the run'} were not met)\n`);
          done.set(step.id, 'skipped');
          await save();
          continue;
        }
        start(step);
      }
    }
    if (running.size === 0) break;
    await Promise.race(running.values());
    if (outcome.failed === null && [...records.values()].every((r) => r.status !== 'Queued') && running.size === 0) break;
  }
  await Promise.allSettled(running.values());
  stop.dispose();
  // Steps the run never reached (after a failure, or cancel) are reported as skipped.
  for (const record of records.values()) if (record.status === 'Queued') record.status = 'Skipped';
  await save();
  if (ctx.signal.aborted) throw ctx.signal.reason;
  outcome.steps = [...records.values()];
  return outcome;
}

async function runStep(
  step: TaskStep,
  task: TaskDefinition,
  ctx: TaskExecutionContext,
  outcome: TaskOutcome,
  runSignal: AbortSignal,
  network: string | undefined,
  mounts: Array<{ volume: string; mountPath: string }>,
): Promise<number> {
  const limit = childSignal(runSignal, step.timeout * 1000);
  try {
    return await runWithRetries(step, task, ctx, outcome, runSignal, limit.signal, network, mounts);
  } finally {
    limit.dispose();
  }
}

/** retries, repeat and startDelay around one step, within its timeout (`signal`). */
async function runWithRetries(
  step: TaskStep,
  task: TaskDefinition,
  ctx: TaskExecutionContext,
  outcome: TaskOutcome,
  runSignal: AbortSignal,
  signal: AbortSignal,
  network: string | undefined,
  mounts: Array<{ volume: string; mountPath: string }>,
): Promise<number> {
  const workdir = posix.join('/workspace', step.workingDirectory ?? task.workingDirectory ?? '');
  ctx.log(`Executing step ID: ${step.id}. Timeout(sec): ${step.timeout}, Working directory: '${workdir}', Network: '${network ?? ctx.env.network}'\n`);
  if (step.startDelay > 0) await sleep(step.startDelay * 1000, signal);
  // retryOnErrors needs the attempt's output: kept (the last 1 MiB) while it is logged.
  let output = '';
  const log = (text: string) => {
    output = (output + text).slice(-1024 * 1024);
    ctx.log(text);
  };
  const once = (): Promise<number> => runOnce(step, task, { ...ctx, log }, outcome, signal, workdir, network, mounts);
  if (step.type === 'push') return once();
  let lastFailure = 0;
  for (let repetition = 0; repetition <= step.repeat; repetition++) {
    let code = -1;
    for (let attempt = 0; attempt <= step.retries; attempt++) {
      output = '';
      code = await once().catch((error: unknown) => {
        if (signal.aborted) throw runSignal.aborted ? runSignal.reason : new StepError(`step ${step.id} timed out after ${step.timeout}s`, null);
        throw error;
      });
      if (code === 0) break;
      if (step.retryOnErrors.length > 0 && !step.retryOnErrors.some((e) => output.includes(e))) {
        if (attempt < step.retries) ctx.log(`Step ID: ${step.id} exited with ${code}; its output has none of retryOnErrors, so no retry\n`);
        break;
      }
      if (attempt < step.retries) {
        ctx.log(`Step ID: ${step.id} exited with ${code}; retrying (${attempt + 1}/${step.retries}) in ${step.retryDelay}s\n`);
        await sleep(step.retryDelay * 1000, signal);
      }
    }
    if (code !== 0) lastFailure = code;
  }
  return lastFailure;
}

async function runOnce(
  step: TaskStep,
  task: TaskDefinition,
  ctx: TaskExecutionContext,
  outcome: TaskOutcome,
  signal: AbortSignal,
  workdir: string,
  network: string | undefined,
  mounts: Array<{ volume: string; mountPath: string }>,
): Promise<number> {
  if (step.type === 'cmd') {
    const words = shellWords(step.cmd);
    if (words[0] === 'berth' || words[0] === 'acr') return ctx.berthCli(words.slice(1), ctx.log, signal);
    const builtin = words[0] === 'docker';
    const image = builtin ? await ctx.runner.builtinImage('docker') : (ctx.imageAliases[words[0]!] ?? words[0]!);
    const env = mergeEnv(task.env, step.env);
    return ctx.runner.run(
      ctx.env,
      {
        image,
        args: words.slice(1),
        context: null,
        env,
        logins: ctx.logins,
        name: step.id,
        detach: step.detach,
        entrypoint: step.entryPoint ? [step.entryPoint] : null,
        workingDir: step.disableWorkingDirectoryOverride ? null : workdir,
        user: step.user,
        privileged: step.privileged,
        engineAccess: builtin,
        ...(network ? { network } : {}),
        pull: step.pull,
        keep: step.keep,
        volumeMounts: mounts,
        ports: step.ports,
        expose: step.expose,
        cpus: step.cpus,
      },
      ctx.log,
      signal,
    );
  }
  if (step.type === 'build') {
    const args = parseBuildArgs(step.build, mergeEnv(task.env, step.env));
    const tags = args.tags.length ? args.tags : [`berth-step-${step.id}:build`];
    // A git or tarball context is fetched for the step (public sources: a URL holds no credentials).
    const remote = isRemoteContext(args.context) ? await fetchSource(parseSourceLocation(args.context), null, signal, ctx.log, ctx.egress) : null;
    const spooled = remote ? null : await spoolArchive(await ctx.runner.workspaceArchive(ctx.env, posix.join(posix.relative('/workspace', workdir), args.context), mounts));
    try {
      const dockerfile = await (remote ? remote.readFile(args.dockerfile) : spooled!.readFile(args.dockerfile)).catch(() => null);
      const builtByRun = new Set(outcome.builtImages.map(builtImageKey).filter((key): key is string => key !== null));
      const planned = await refreshBases(dockerfile, { buildArgs: args.buildArgs, target: args.target, ...(args.platform ? { platform: args.platform } : {}) }, builtByRun, { runner: ctx.runner, env: ctx.env, logins: ctx.logins, log: ctx.log, signal });
      const context = remote ? remote.archive() : spooled!.open();
      const { context: _context, tags: _tags, ...options } = args;
      // The step's network (a declared one, by its engine name) unless --network names another.
      const buildNetwork = args.network && args.network !== step.network ? args.network : network;
      await ctx.runner.build(ctx.env, { ...options, context, tags, logins: ctx.logins, ...(buildNetwork ? { network: buildNetwork } : {}) }, ctx.log, signal);
      mergeBaseImages(outcome.baseImages, await baseImageUses(ctx.runner, planned));
    } finally {
      await remote?.dispose();
      await spooled?.dispose();
    }
    outcome.builtImages.push(...tags);
    return 0;
  }
  for (const reference of step.push) {
    let digest = '';
    for (let attempt = 1; ; attempt++) {
      try {
        digest = await ctx.runner.push(ctx.env, reference, ctx.logins.find((l) => reference.startsWith(`${l.server}/`)) ?? null, ctx.log, signal);
        break;
      } catch (error) {
        if (attempt >= 3 || signal.aborted) throw error;
        ctx.log(`push of ${reference} failed (${(error as Error).message}); attempt ${attempt + 1} of 3\n`);
        await sleep(1000 * 2 ** attempt, signal);
      }
    }
    if (reference.startsWith(`${ctx.registryHost}/`)) {
      const [name, tag] = splitReference(reference);
      outcome.outputImages.push({ registry: ctx.registryHost, repository: name.slice(ctx.registryHost.length + 1), tag, digest });
    }
  }
  return 0;
}

/** Task-level env first, step keys win (as ACR merges them). */
export function mergeEnv(taskEnv: string[], stepEnv: string[]): string[] {
  const merged = new Map<string, string>();
  for (const entry of [...taskEnv, ...stepEnv]) merged.set(entry.split('=')[0]!, entry);
  return [...merged.values()];
}

interface BuildStepArgs {
  tags: string[];
  dockerfile: string;
  buildArgs: Record<string, string>;
  target: string | null;
  context: string;
  noCache?: boolean;
  pull?: boolean;
  labels?: Record<string, string>;
  network?: string;
  platform?: string;
}

/**
 * The `docker build` arguments of a build step. `--build-arg NAME` without a value takes it from
 * the step's environment, as the docker CLI would inside ACR's step container (never the agent's).
 */
export function parseBuildArgs(text: string, stepEnv: string[] = []): BuildStepArgs {
  const words = shellWords(text);
  const result: BuildStepArgs = { tags: [], dockerfile: 'Dockerfile', buildArgs: {}, target: null, context: '.' };
  const env = new Map(stepEnv.map((entry) => [entry.split('=')[0]!, entry.slice(entry.indexOf('=') + 1)]));
  const positional: string[] = [];
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    const [flag, inline] = word.startsWith('--') && word.includes('=') ? [word.slice(0, word.indexOf('=')), word.slice(word.indexOf('=') + 1)] : [word, undefined];
    const value = () => inline ?? words[++i] ?? '';
    if (flag === '-t' || flag === '--tag') result.tags.push(value());
    else if (flag === '-f' || flag === '--file') result.dockerfile = value();
    else if (flag === '--build-arg') {
      const arg = value();
      const eq = arg.indexOf('=');
      if (eq > 0) result.buildArgs[arg.slice(0, eq)] = arg.slice(eq + 1);
      else if (env.has(arg)) result.buildArgs[arg] = env.get(arg)!;
    } else if (flag === '--target') result.target = value();
    else if (flag === '--no-cache') result.noCache = true;
    else if (flag === '--pull') result.pull = true;
    else if (flag === '-q' || flag === '--quiet' || flag === '--rm' || flag === '--force-rm') continue;
    else if (flag === '--label') {
      const label = value();
      const eq = label.indexOf('=');
      result.labels = { ...result.labels, [eq > 0 ? label.slice(0, eq) : label]: eq > 0 ? label.slice(eq + 1) : '' };
    } else if (flag === '--network') result.network = value();
    else if (flag === '--platform') result.platform = value();
    else if (flag.startsWith('-')) throw new StepError(`unsupported build option ${flag}`, null);
    else positional.push(word);
  }
  if (positional.length > 1) throw new StepError(`a build step takes one context, got ${positional.join(' ')}`, null);
  result.context = positional[0] ?? '.';
  result.dockerfile = result.dockerfile.replace(/^\.\//, '');
  return result;
}
