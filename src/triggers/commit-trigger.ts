import type { WorkHandler } from '../background/background-worker.js';
import type { WorkItem, WorkQueue } from '../background/work-queue.js';
import { parseSourceLocation } from '../tasks/sources/remote-source.js';
import { gitRemoteHead } from '../tasks/sources/git-remote.js';
import type { TaskRecord, TaskStore } from '../tasks/task-store.js';
import { isGitContext, triggersOf } from '../tasks/task-triggers.js';
import type { SourceEventStore, SourceEventVerdict } from './source-event-store.js';
import type { TriggerRuns } from './trigger-runs.js';

export const commitPollKind = 'commit-poll';

/** A push, however it arrived (a host's webhook or the branch-head poll). */
export interface PushedCommit {
  provider: string;
  deliveryId: string | null;
  repositoryUrl: string | null;
  ref: string;
  /** The branch the push moved; null for a tag push. */
  branch: string | null;
  commit: string;
  deleted: boolean;
}

interface PollState {
  lastCommit: string | null;
}

/**
 * The commit trigger: a push to the context's branch queues one run that checks out exactly
 * the pushed commit. A redelivery (same delivery id) and a second report of the same commit
 * (webhook and poll, or a retried delivery with a new id) are one run: the run's key is
 * (task, commit). Every event is recorded with its verdict (`task list-source-events`).
 */
export class CommitTrigger implements WorkHandler {
  readonly kind = commitPollKind;
  readonly leaseSeconds = 120;

  constructor(
    private readonly queue: WorkQueue,
    private readonly tasks: Pick<TaskStore, 'getTask'>,
    private readonly events: SourceEventStore,
    private readonly triggerRuns: TriggerRuns,
    private readonly gitToken: (task: string) => Promise<string | null>,
  ) {}

  /**
   * A push to the task's branch (the caller has checked the branch: the webhook route with the
   * provider's payload, the poll by asking for that branch): queues its run, or says why not.
   */
  async push(task: TaskRecord, push: PushedCommit): Promise<{ verdict: SourceEventVerdict; runId: string | null }> {
    const decision = await this.decide(task, push);
    await this.record(task.name, push, decision.verdict, decision.runId, decision.detail ?? null);
    return decision;
  }

  /** Records an event that queued nothing (a bad signature, another branch, a ping). */
  async record(task: string, push: Partial<PushedCommit> & { provider: string }, verdict: SourceEventVerdict, runId: string | null, detail: string | null): Promise<void> {
    await this.events.record({
      task,
      provider: push.provider,
      deliveryId: push.deliveryId ?? null,
      repositoryUrl: push.repositoryUrl ?? null,
      ref: push.ref ?? null,
      commit: push.commit ?? null,
      verdict,
      runId,
      detail,
    });
  }

  private async decide(task: TaskRecord, push: PushedCommit): Promise<{ verdict: SourceEventVerdict; runId: string | null; detail?: string }> {
    if (!triggersOf(task).source.enabled || !isGitContext(task.contextUrl)) return { verdict: 'trigger-disabled', runId: null };
    if (task.status !== 'Enabled') return { verdict: 'task-disabled', runId: null };
    if (push.deleted) return { verdict: 'branch-deleted', runId: null };
    if (push.deliveryId && (await this.events.seenDelivery(task.name, push.provider, push.deliveryId))) return { verdict: 'duplicate', runId: null, detail: 'delivery seen before' };
    const result = await this.triggerRuns.queue(task.name, {
      trigger: {
        trigger: 'Commit',
        sourceTrigger: { id: push.deliveryId ?? push.commit, eventType: 'Commit', provider: push.provider, repositoryUrl: push.repositoryUrl ?? task.contextUrl!, branch: push.branch!, commit: push.commit },
        triggerKey: `commit/${task.name}/${push.commit}`,
      },
      commit: push.commit,
      ...(push.branch ? { branch: push.branch } : {}),
    });
    if (result.verdict === 'queued') return { verdict: 'queued', runId: result.runId };
    if (result.verdict === 'duplicate') return { verdict: 'duplicate', runId: result.runId, detail: 'this commit has had its run' };
    return { verdict: 'task-disabled', runId: null };
  }

  /** Keeps the task's branch-head poll in step with its settings. */
  async sync(task: TaskRecord | null, name: string): Promise<void> {
    const interval = task && isGitContext(task.contextUrl) && triggersOf(task).source.enabled ? triggersOf(task).source.pollIntervalSeconds : null;
    if (interval === null) {
      await this.queue.remove(commitPollKind, name);
      return;
    }
    await this.queue.ensureRecurring({ kind: commitPollKind, key: name, runAt: new Date(Date.now() + interval * 1000).toISOString() });
  }

  async handle(item: WorkItem): Promise<{ runAt: Date; payload: PollState } | void> {
    const task = await this.tasks.getTask(item.key);
    const interval = task ? triggersOf(task).source.pollIntervalSeconds : null;
    if (!task || interval === null || !isGitContext(task.contextUrl)) {
      await this.queue.remove(commitPollKind, item.key);
      return;
    }
    const state = (item.payload ?? {}) as PollState;
    const location = parseSourceLocation(task.contextUrl!);
    if (location.kind !== 'git') return { runAt: new Date(Date.now() + interval * 1000), payload: state };
    const head = await gitRemoteHead(location.url, location.ref, await this.gitToken(task.name));
    // The first look only learns where the branch is; a commit after that is a push.
    if (state.lastCommit && head.commit !== state.lastCommit) {
      await this.push(task, { provider: 'poll', deliveryId: null, repositoryUrl: location.url, ref: `refs/heads/${head.branch}`, branch: head.branch, commit: head.commit, deleted: false });
    }
    return { runAt: new Date(Date.now() + interval * 1000), payload: { lastCommit: head.commit } };
  }
}
