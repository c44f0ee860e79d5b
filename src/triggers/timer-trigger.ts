import type { WorkHandler } from '../background/background-worker.js';
import type { WorkItem, WorkQueue } from '../background/work-queue.js';
import type { TaskStore, TaskTimer } from '../tasks/task-store.js';
import { cronOf, triggersOf } from '../tasks/task-triggers.js';
import type { TriggerRuns } from './trigger-runs.js';

export const timerKind = 'timer';

interface TimerState {
  task: string;
  timer: string;
  schedule: string;
}

export const timerKey = (task: string, timer: string): string => `${task}/${timer}`;

/**
 * ACR's timer trigger. Each (task, timer) is a recurring work item due at its next occurrence.
 * An occurrence's run carries the unique key (task, timer, occurrence), so a restart, a slow
 * start or a second server never runs it twice. After downtime, the missed occurrences give one
 * catch-up run, for the latest of them; the earlier ones are skipped.
 */
export class TimerTrigger implements WorkHandler {
  readonly kind = timerKind;
  readonly leaseSeconds = 60;

  constructor(
    private readonly queue: WorkQueue,
    private readonly tasks: Pick<TaskStore, 'getTask'>,
    private readonly triggerRuns: TriggerRuns,
  ) {}

  /** Makes the task's work items match its timers: one per enabled timer, none for the rest. */
  async sync(task: string, timers: TaskTimer[]): Promise<void> {
    const wanted = new Map(timers.filter((t) => t.enabled).map((t) => [timerKey(task, t.name), t]));
    for (const item of await this.queue.list(timerKind, `${task}/`)) {
      const state = item.payload as TimerState;
      const timer = wanted.get(item.key);
      if (state.task !== task) continue;
      if (!timer) await this.queue.remove(timerKind, item.key);
      else if (timer.schedule !== state.schedule) await this.schedule(task, timer, true);
      wanted.delete(item.key);
    }
    for (const timer of wanted.values()) await this.schedule(task, timer, false);
  }

  private async schedule(task: string, timer: TaskTimer, replace: boolean): Promise<void> {
    const next = cronOf(timer.schedule).nextRun(new Date());
    if (!next) return;
    const payload: TimerState = { task, timer: timer.name, schedule: timer.schedule };
    await this.queue.ensureRecurring({ kind: timerKind, key: timerKey(task, timer.name), payload, runAt: next.toISOString(), replace });
  }

  async handle(item: WorkItem): Promise<{ runAt: Date } | void> {
    const state = item.payload as TimerState;
    const task = await this.tasks.getTask(state.task);
    const timer = task ? triggersOf(task).timers.find((t) => t.name === state.timer && t.enabled) : undefined;
    if (!task || !timer) {
      await this.queue.remove(timerKind, item.key);
      return;
    }
    const cron = cronOf(timer.schedule);
    const now = new Date();
    // The latest occurrence that is due: the one this item was due for, or a later missed one.
    const occurrence = cron.previousRuns(1, new Date(now.getTime() + 1))[0] ?? new Date(item.runAt);
    if (task.status === 'Enabled') {
      await this.triggerRuns.queue(task.name, {
        trigger: {
          trigger: 'Timer',
          timerTrigger: { timerTriggerName: timer.name, scheduleOccurrence: occurrence.toISOString() },
          triggerKey: `timer/${task.name}/${timer.name}/${occurrence.toISOString()}`,
        },
      });
    }
    return { runAt: cron.nextRun(now) ?? new Date(now.getTime() + 86_400_000) };
  }
}
