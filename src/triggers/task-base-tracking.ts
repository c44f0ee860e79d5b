import type { WorkHandler } from '../background/background-worker.js';
import type { WorkItem, WorkQueue } from '../background/work-queue.js';
import type { BaseImageUse, RunRecord } from '../tasks/run-store.js';
import type { TaskRecord, TaskStore } from '../tasks/task-store.js';
import { triggersOf } from '../tasks/task-triggers.js';
import type { BaseImageStore, ImageName, TaskBaseImage } from './base-image-store.js';
import { normalizeImageReference } from './image-reference.js';
import type { UpstreamPoller } from './upstream-poller.js';

export const taskBasesKind = 'task-bases';

/** What a task's definition says it is built FROM, before any run (its Dockerfile or task file, read from its source). */
export type TaskBaseResolver = (task: TaskRecord) => Promise<Array<ImageName & { dependency: 'runtime' | 'buildtime' }>>;

type NewBase = Omit<TaskBaseImage, 'task' | 'checkedAt' | 'error'>;

/**
 * Keeps the index of what each task depends on: from its definition when it is created or
 * changed (a background item, since reading a git source takes a clone), then from what each
 * successful run's builds really used, with their digests. Watched images (`--watch-image`)
 * are always added. Remote images get an upstream poll.
 */
export class TaskBaseTracking implements WorkHandler {
  readonly kind = taskBasesKind;
  readonly leaseSeconds = 300;
  /** A source that cannot be read for about an hour of back-off: the first successful run fills the bases in. */
  readonly maxAttempts = 8;

  constructor(
    private readonly queue: WorkQueue,
    private readonly tasks: Pick<TaskStore, 'getTask'>,
    private readonly bases: BaseImageStore,
    private readonly resolve: TaskBaseResolver,
    private readonly poller: UpstreamPoller,
  ) {}

  /** A task was saved or deleted. */
  async taskChanged(name: string, task: TaskRecord | null): Promise<void> {
    if (!task) {
      await this.bases.deleteTask(name);
      await this.queue.remove(taskBasesKind, name);
      return;
    }
    // Watches count at once; what the source says follows when the item has read it.
    await this.replace(task, (await this.bases.taskBases(name)).filter((b) => b.dependency !== 'watch'));
    await this.queue.enqueue({ kind: taskBasesKind, key: name, payload: { updatedAt: task.updatedAt } });
  }

  async handle(item: WorkItem): Promise<void> {
    const task = await this.tasks.getTask(item.key);
    if (!task) return;
    const resolved = await this.resolve(task);
    await this.replace(task, resolved.map((b) => ({ ...b, digest: null, tagPolicy: null })));
  }

  /** A run ended: a successful one's builds say what the task is built FROM now, and on which digests. */
  async runEnded(run: RunRecord): Promise<void> {
    if (!run.taskName || run.status !== 'Succeeded' || !run.baseImages?.length) return;
    const task = await this.tasks.getTask(run.taskName);
    if (!task) return;
    await this.replace(task, run.baseImages.map(fromUse));
  }

  private async replace(task: TaskRecord, built: NewBase[]): Promise<void> {
    const triggers = triggersOf(task);
    const watched: NewBase[] = triggers.watchImages.map((ref) => ({ ...name(ref), dependency: 'watch', digest: null, tagPolicy: null }));
    const all = [...built, ...watched].map((b) => ({ ...b, tagPolicy: policyFor(triggers.baseImage.tagPolicies, b) ?? b.tagPolicy }));
    await this.bases.replaceTaskBases(task.name, all);
    await this.poller.watch(all);
  }
}

function name(reference: string): ImageName {
  const { registry, repository, tag } = normalizeImageReference(reference);
  return { registry, repository, tag: tag || 'latest' };
}

function fromUse(use: BaseImageUse): NewBase {
  return { registry: use.registry, repository: use.repository, tag: use.tag, dependency: use.dependency, digest: use.digest, tagPolicy: null };
}

/** Tag policies are given per base reference (any tag): they match the base's registry and repository. */
function policyFor(policies: Record<string, string>, base: ImageName): string | null {
  for (const [reference, policy] of Object.entries(policies)) {
    if (reference === '*') return policy;
    const named = name(reference);
    if (named.registry === base.registry && named.repository === base.repository) return policy;
  }
  return null;
}
