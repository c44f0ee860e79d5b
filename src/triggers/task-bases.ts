import { posix } from 'node:path';
import type { TaskRecord } from '../tasks/task-store.js';
import { parseTaskFile, aliasSources, placeholderSecrets } from '../tasks/task-file.js';
import { mergeEnv, parseBuildArgs } from '../tasks/task-executor.js';
import { isRemoteContext } from '../tasks/sources/remote-source.js';
import { placeholderRun, renderRunTemplate, type RunVariables } from '../tasks/templating.js';
import { platformParts } from '../tasks/platform.js';
import { scanDockerfileBases } from './dockerfile-bases.js';
import { formatImageReference, normalizeImageReference, type ImageReference } from './image-reference.js';

/** What basesOfTask needs of a task: its definition, as stored. */
export type TaskDefinitionInput = Pick<TaskRecord, 'name' | 'kind' | 'dockerfile' | 'buildArgs' | 'taskFile' | 'values' | 'platform'> &
  Partial<Pick<TaskRecord, 'taskFilePath' | 'secretValues'>>;

export interface TaskBasesOptions {
  /** This registry's own host (what `{{.Run.Registry}}` is in the task's runs). */
  registryHost: string;
  /**
   * A file of the task's source by its path from the context root; null (or a throw) when it is
   * not there. An uploaded context: `archiveFileReader`; a fetched remote one: `FetchedSource.readFile`.
   */
  readFile(path: string): Promise<string | null>;
}

export interface TaskBases {
  /** Each build's last-stage base (one for a build task; one per build step of a task file). */
  runtime: ImageReference[];
  /** Every other stage's base, never one of the runtime ones again. */
  buildtime: ImageReference[];
  /** What could not be read (a missing Dockerfile, a FROM with an unset ARG, a remote step context). */
  problems: string[];
}

/**
 * What a task builds FROM, known from its definition before it ever runs (ACR learns it from a
 * first run). Templates are rendered with a stand-in run whose Registry is this registry, so a
 * `--build-arg BASE={{.Run.Registry}}/base:1` resolves to the image the real run will use. A base
 * that an earlier build step of the same file builds is the task's own product, not a base.
 */
export async function basesOfTask(task: TaskDefinitionInput, options: TaskBasesOptions): Promise<TaskBases> {
  const bases = new BaseCollector();
  const run = placeholderFor(task, options.registryHost);
  const read = async (path: string, what: string): Promise<string | null> => {
    const text = await options.readFile(path).catch(() => null);
    if (text === null) bases.problems.push(`${what} "${path}" is not in the task's source`);
    return text;
  };
  if (task.kind === 'build') {
    const dockerfile = (task.dockerfile ?? 'Dockerfile').replace(/^\.\//, '');
    const text = await read(dockerfile, 'the Dockerfile');
    const buildArgs = Object.fromEntries(Object.entries(task.buildArgs).map(([k, v]) => [k, renderRunTemplate(v, run)]));
    if (text !== null) bases.add(scanDockerfileBases(text, { buildArgs }), dockerfile);
  } else if (task.kind === 'file') {
    await taskFileBases(task, run, read, bases);
  }
  return bases.result();
}

async function taskFileBases(task: TaskDefinitionInput, run: RunVariables, read: (path: string, what: string) => Promise<string | null>, bases: BaseCollector): Promise<void> {
  const source = task.taskFile ?? (task.taskFilePath ? await read(task.taskFilePath, 'the task file') : null);
  if (source === null) return;
  const aliasFiles: Record<string, string> = {};
  for (const src of aliasSources(source)) {
    // A URL alias file is fetched by the agent, under its egress policy; here it is only missing.
    if (/^https?:\/\//i.test(src)) bases.problems.push(`alias src ${src} is a URL, read only when the task runs`);
    aliasFiles[src] = /^https?:\/\//i.test(src) ? '' : ((await read(src, 'the alias src file')) ?? '');
  }
  // As in a run, stored secret values are values too; their contents never matter to a FROM.
  const values: Record<string, unknown> = { ...task.values };
  for (const name of Object.keys(task.secretValues ?? {})) values[name] = `secret-${name}`;
  let definition;
  try {
    definition = parseTaskFile(source, { Run: { ...run, SharedVolume: 'berth-shared-volume' }, Values: values, Secrets: placeholderSecrets }, aliasFiles);
  } catch (error) {
    bases.problems.push(`the task file cannot be read: ${(error as Error).message}`);
    return;
  }
  for (const step of definition.steps) {
    if (step.type !== 'build') continue;
    let args;
    try {
      args = parseBuildArgs(step.build, mergeEnv(definition.env, step.env));
    } catch (error) {
      bases.problems.push(`step ${step.id}: ${(error as Error).message}`);
      continue;
    }
    if (isRemoteContext(args.context)) {
      bases.problems.push(`step ${step.id} builds from ${args.context}, read only when the task runs`);
      continue;
    }
    // The same path arithmetic as the executor: /workspace + working directory + context + -f.
    const workdir = posix.join('/workspace', step.workingDirectory ?? definition.workingDirectory ?? '');
    const path = posix.relative('/workspace', posix.join(workdir, args.context, args.dockerfile));
    if (path.startsWith('..')) {
      bases.problems.push(`step ${step.id}: its Dockerfile "${path}" is outside the source`);
      continue;
    }
    const text = await read(path, `step ${step.id}'s Dockerfile`);
    if (text !== null) bases.add(scanDockerfileBases(text, { buildArgs: args.buildArgs, target: args.target }), `step ${step.id}`);
    for (const tag of args.tags) bases.built(tag);
  }
}

/** The run a task's templates are rendered with before any run exists. */
function placeholderFor(task: TaskDefinitionInput, registryHost: string): RunVariables {
  const { os, architecture } = platformParts(task.platform);
  return placeholderRun({ taskName: task.name, registry: registryHost, os, architecture });
}

/** Bases across builds: runtime wins over buildtime, each image once, the run's own products never. */
class BaseCollector {
  readonly problems: string[] = [];
  private readonly runtime = new Map<string, ImageReference>();
  private readonly buildtime = new Map<string, ImageReference>();
  private readonly products = new Set<string>();

  add(found: { runtime: ImageReference | null; buildtime: ImageReference[]; problems: string[] }, where: string): void {
    this.problems.push(...found.problems.map((p) => `${where}: ${p}`));
    const own = (ref: ImageReference) => this.products.has(formatImageReference(ref));
    if (found.runtime && !own(found.runtime)) this.runtime.set(formatImageReference(found.runtime), found.runtime);
    for (const ref of found.buildtime) if (!own(ref)) this.buildtime.set(formatImageReference(ref), ref);
  }

  /** An image a build step tags: later steps building FROM it depend on the step, not on a registry. */
  built(tag: string): void {
    try {
      this.products.add(formatImageReference(normalizeImageReference(tag)));
    } catch {
      // An invalid tag fails the build itself; it names nothing a later FROM could match.
    }
  }

  result(): { runtime: ImageReference[]; buildtime: ImageReference[]; problems: string[] } {
    return {
      runtime: [...this.runtime.values()],
      buildtime: [...this.buildtime.entries()].filter(([key]) => !this.runtime.has(key)).map(([, ref]) => ref),
      problems: this.problems,
    };
  }
}
