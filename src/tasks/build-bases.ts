import type { BaseImageUse } from './run-store.js';
import type { LogSink, RegistryLogin, RunEnvironment, TaskRunner } from './task-runner.js';
import { scanDockerfileBases } from '../triggers/dockerfile-bases.js';
import { formatImageReference, normalizeImageReference, type ImageReference } from '../triggers/image-reference.js';

export interface BaseRefreshContext {
  runner: TaskRunner;
  env: RunEnvironment;
  logins: RegistryLogin[];
  log: LogSink;
  signal: AbortSignal;
}

export interface PlannedBase {
  reference: ImageReference;
  dependency: BaseImageUse['dependency'];
}

/** The fully qualified form of a tag a build of this run makes (to tell its own images from bases). */
export function builtImageKey(tag: string): string | null {
  try {
    return formatImageReference(normalizeImageReference(tag));
  } catch {
    return null;
  }
}

/**
 * Before a build: finds its bases (with its real build args and target, secrets left out so no
 * secret reaches the run record) and pulls each fresh from its registry, so a build fired by a
 * base-image update really builds on the new base rather than the engine's older copy. Images an
 * earlier step of the run built are not bases and are not pulled. A base the registry will not
 * give but the engine has (made by a `docker` step, or loaded by hand) is used as the engine has
 * it, with a warning; the engine's own pull option would fail the build on those.
 */
export async function refreshBases(
  dockerfile: string | null,
  options: { buildArgs: Record<string, string>; target: string | null; platform?: string },
  builtByRun: ReadonlySet<string>,
  ctx: BaseRefreshContext,
): Promise<PlannedBase[]> {
  if (dockerfile === null) {
    ctx.log('Warning: the Dockerfile could not be read before the build; its base images are not recorded\n');
    return [];
  }
  const scan = scanDockerfileBases(dockerfile, { buildArgs: options.buildArgs, target: options.target });
  for (const problem of scan.problems) ctx.log(`Warning: base images: ${problem}\n`);
  const planned: PlannedBase[] = [
    ...(scan.runtime ? [{ reference: scan.runtime, dependency: 'runtime' as const }] : []),
    ...scan.buildtime.map((reference) => ({ reference, dependency: 'buildtime' as const })),
  ].filter((base) => !builtByRun.has(formatImageReference(base.reference)));
  for (const { reference } of planned) {
    const name = formatImageReference(reference);
    // A digest never changes: what the engine has under it is what the registry would send.
    if (reference.digest && (await ctx.runner.hasImage(name))) continue;
    ctx.log(`Pulling base image ${name}\n`);
    try {
      await ctx.runner.pullImage(ctx.env, name, ctx.logins, ctx.log, ctx.signal, options.platform);
    } catch (error) {
      if (ctx.signal.aborted || !(await ctx.runner.hasImage(name))) throw error;
      ctx.log(`Warning: ${name} could not be pulled (${(error as Error).message.trim()}); building on the engine's copy\n`);
    }
  }
  return planned;
}

/** After a build: each base with the digest the engine built it from. */
export async function baseImageUses(runner: TaskRunner, planned: PlannedBase[]): Promise<BaseImageUse[]> {
  const uses: BaseImageUse[] = [];
  for (const { reference, dependency } of planned) {
    const digest = reference.digest ?? (await runner.imageDigest(formatImageReference(reference)).catch(() => null));
    uses.push({ registry: reference.registry, repository: reference.repository, tag: reference.tag, digest, dependency });
  }
  return uses;
}

/** A run's bases across its builds: one entry per image tag, runtime when any build's runtime. */
export function mergeBaseImages(into: BaseImageUse[], more: BaseImageUse[]): void {
  for (const use of more) {
    const same = into.find((u) => u.registry === use.registry && u.repository === use.repository && u.tag === use.tag && (u.tag !== '' || u.digest === use.digest));
    if (!same) into.push({ ...use });
    else if (use.dependency === 'runtime') same.dependency = 'runtime';
  }
}
