import type { FastifyBaseLogger } from 'fastify';
import type { JournaledEvent } from '../metadata/metadata-store.js';
import type { RegistryEventMap } from '../events/registry-events.js';
import type { RequestContext } from '../events/request-context.js';
import type { RunStore } from '../tasks/run-store.js';
import type { TaskStore } from '../tasks/task-store.js';
import { triggersOf } from '../tasks/task-triggers.js';
import type { BaseImageStore, ImageName, TaskBaseImage } from './base-image-store.js';
import type { TriggerRuns, TriggerVerdict } from './trigger-runs.js';
import { isNewerTag, tagMatches } from './tag-policy.js';

type PushEvent = RegistryEventMap['manifest.pushed'] & { request: RequestContext | null };

/** Pushes by a run come with its own token (`berth-run-<id>`, see compose-tasks). */
const runTokenPattern = /^berth-run-(.+)$/;

/**
 * The base-image update trigger. Pushes to this registry arrive from the event journal (its own
 * cursor); digests of images elsewhere come from the upstream poller. Either way the dependents
 * are found through the index of task bases, and each fires once for a digest it has not built on.
 */
export class ImageUpdateTrigger {
  constructor(
    private readonly bases: BaseImageStore,
    private readonly tasks: Pick<TaskStore, 'getTask'>,
    private readonly runs: Pick<RunStore, 'getRun'>,
    private readonly triggerRuns: TriggerRuns,
    /** The names this registry goes by in FROM lines (its listen address, loopback forms, public URL). */
    private readonly localRegistries: () => string[],
    private readonly log: Pick<FastifyBaseLogger, 'info' | 'warn'>,
  ) {}

  /** The journal consumer's handler. */
  async handleJournalEntry(entry: JournaledEvent): Promise<void> {
    if (entry.name !== 'manifest.pushed') return;
    const push = entry.payload as PushEvent;
    // A push by digest moves no tag; re-pushing what the tag had changes nothing.
    if (!push.tag || push.digest === push.previousDigest) return;
    const chain = await this.chainOf(push.request);
    const registries = this.localRegistries();
    const dependents = await this.bases.dependents(registries, push.repository, push.tag);
    for (const dependent of dependents) {
      await this.fire(dependent, push.digest, push.previousDigest, chain);
    }
    if (push.previousDigest === null) await this.newTag(registries, push, chain);
  }

  /**
   * The new-tag trigger: a tag that did not exist, matching a dependent's policy and newer than
   * the tag it builds on, runs it with the new reference (and the FROM line's ARG set to the tag).
   */
  private async newTag(registries: string[], push: PushEvent, chain: string[]): Promise<void> {
    for (const dependent of await this.bases.tagPolicyDependents(registries, push.repository)) {
      const policy = dependent.tagPolicy!;
      if (dependent.tag === push.tag || !tagMatches(policy, push.tag!) || !isNewerTag(policy, push.tag!, dependent.tag)) continue;
      const task = await this.tasks.getTask(dependent.task);
      if (!task || task.status !== 'Enabled' || !triggersOf(task).baseImage.enabled) continue;
      const tagArgument = Object.entries(task.buildArgs ?? {}).find(([, value]) => value === dependent.tag)?.[0];
      await this.triggerRuns.imageUpdate(
        dependent.task,
        { registry: dependent.registry, repository: dependent.repository, tag: push.tag!, digest: push.digest, previousDigest: null },
        chain,
        tagArgument ? { buildArgs: { [tagArgument]: push.tag! } } : {},
      );
    }
  }

  /** An upstream poll saw `digest` behind an image; `lastSeen` is what the previous poll saw. */
  async upstreamDigest(image: ImageName, digest: string, lastSeen: string | null): Promise<TriggerVerdict[]> {
    const verdicts: TriggerVerdict[] = [];
    for (const dependent of await this.bases.dependents([image.registry], image.repository, image.tag)) {
      // A first poll only learns the digest: it fires only tasks known to have built on another.
      verdicts.push(await this.fire(dependent, digest, lastSeen ?? digest, []));
    }
    return verdicts;
  }

  /**
   * Fires one dependent, when its trigger is on, covers this kind of dependency, and the digest
   * is not the one its last build used. Without a build yet, the previous digest decides (a
   * task registered before its base first appeared fires when it does).
   */
  private async fire(dependent: TaskBaseImage, digest: string, previousDigest: string | null, chain: string[]): Promise<TriggerVerdict> {
    const task = await this.tasks.getTask(dependent.task);
    if (!task || task.status !== 'Enabled') return { verdict: 'disabled' };
    const trigger = triggersOf(task).baseImage;
    if (!trigger.enabled) return { verdict: 'disabled' };
    if (dependent.dependency === 'buildtime' && trigger.type !== 'All') return { verdict: 'disabled' };
    const built = dependent.digest ?? previousDigest;
    if (built === digest) return { verdict: 'duplicate', runId: null };
    return this.triggerRuns.imageUpdate(
      dependent.task,
      { registry: dependent.registry, repository: dependent.repository, tag: dependent.tag, digest, previousDigest: built },
      chain,
    );
  }

  /** The tasks whose runs led to this push (empty for a person's push). */
  private async chainOf(request: RequestContext | null): Promise<string[]> {
    const match = request ? runTokenPattern.exec(request.actor) : null;
    if (!match) return [];
    const run = await this.runs.getRun(match[1]!);
    if (!run) return [];
    return run.triggerChain ?? (run.taskName ? [run.taskName] : []);
  }
}
