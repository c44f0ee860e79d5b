import { randomUUID } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import { RegistryError } from '../registry/errors.js';
import { DuplicateTriggerError, type ImageUpdateTrigger, type RunRecord, type RunStore, type RunTriggerDetails } from '../tasks/run-store.js';
import type { TaskService, TriggeredRunOptions } from '../tasks/task-service.js';

/** What became of a trigger: a run was queued, folded into a waiting one, or nothing (and why). */
export type TriggerVerdict =
  | { verdict: 'queued'; runId: string }
  | { verdict: 'collapsed'; runId: string }
  | { verdict: 'duplicate'; runId: string | null }
  | { verdict: 'disabled' | 'no-task' | 'cycle' };

export type UpdatedImage = ImageUpdateTrigger['images'][number];

const requester = (kind: string) => `trigger:${kind}`;

/**
 * Queues the runs triggers ask for, with the rules that keep them from doubling: a unique key per
 * occurrence or commit; for image updates, at most one queued-or-running run per (task, digest),
 * and a push while a run still waits is folded into that run (it builds on the newest base anyway).
 */
export class TriggerRuns {
  constructor(
    private readonly tasks: TaskService,
    private readonly runs: Pick<RunStore, 'listRuns' | 'updateQueuedTrigger'>,
    private readonly log: Pick<FastifyBaseLogger, 'info' | 'warn'>,
  ) {}

  async imageUpdate(taskName: string, image: UpdatedImage, chain: string[], extra: Pick<TriggeredRunOptions, 'buildArgs' | 'values'> = {}): Promise<TriggerVerdict> {
    if (chain.includes(taskName)) {
      this.log.info({ task: taskName, chain }, 'image update not fired: the task is already in this chain of runs (a cycle)');
      return { verdict: 'cycle' };
    }
    const active = (await this.runs.listRuns({ taskName, top: 50 })).filter((r) => r.trigger === 'Image Update' && (r.status === 'Queued' || r.status === 'Running'));
    const same = active.find((r) => r.imageUpdateTrigger?.images.some((i) => sameImage(i, image) && i.digest === image.digest));
    if (same) return { verdict: 'duplicate', runId: same.id };
    const trigger: ImageUpdateTrigger = { id: randomUUID(), timestamp: new Date().toISOString(), images: [image] };
    for (const waiting of active.filter((r) => r.status === 'Queued')) {
      // The waiting run keeps what else queued it (another base), with this image at its newest.
      const images = [...(waiting.imageUpdateTrigger?.images ?? []).filter((i) => !sameImage(i, image)), image];
      if (await this.runs.updateQueuedTrigger(waiting.id, { ...trigger, id: waiting.imageUpdateTrigger?.id ?? trigger.id, images })) return { verdict: 'collapsed', runId: waiting.id };
    }
    return this.queue(taskName, {
      trigger: { trigger: 'Image Update', imageUpdateTrigger: trigger, triggerChain: [...chain, taskName], triggerKey: `image/${taskName}/${image.registry}/${image.repository}:${image.tag}/${image.previousDigest ?? 'none'}/${image.digest}` },
      ...extra,
    });
  }

  /** Queues a run for a timer occurrence or a commit: once per trigger key, whoever asks. */
  async queue(taskName: string, options: TriggeredRunOptions): Promise<TriggerVerdict> {
    let run: RunRecord;
    try {
      run = await this.tasks.run(taskName, requester(kindOf(options.trigger)), {}, {}, options);
    } catch (error) {
      if (error instanceof DuplicateTriggerError) return { verdict: 'duplicate', runId: error.runId };
      if (error instanceof RegistryError && error.code === 'NOT_FOUND') return { verdict: 'no-task' };
      if (error instanceof RegistryError && error.code === 'CONFLICT') return { verdict: 'disabled' };
      throw error;
    }
    this.log.info({ task: taskName, run: run.id, trigger: run.trigger }, 'trigger queued a run');
    return { verdict: 'queued', runId: run.id };
  }
}

const sameImage = (a: UpdatedImage, b: UpdatedImage) => a.registry === b.registry && a.repository === b.repository && a.tag === b.tag;

function kindOf(trigger: RunTriggerDetails): string {
  return trigger.trigger === 'Image Update' ? 'image-update' : trigger.trigger.toLowerCase();
}
