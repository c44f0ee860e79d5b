/** What became of a push webhook or a commit poll: the answer to "why didn't my build trigger?". */
export type SourceEventVerdict = 'queued' | 'duplicate' | 'other-branch' | 'branch-deleted' | 'tag-push' | 'bad-signature' | 'trigger-disabled' | 'task-disabled' | 'ping' | 'not-a-push' | 'bad-payload';

export interface SourceEvent {
  id: number;
  task: string;
  receivedAt: string;
  /** github, gitea, forgejo, gitlab, generic; poll for the branch-head poller. */
  provider: string;
  deliveryId: string | null;
  repositoryUrl: string | null;
  ref: string | null;
  commit: string | null;
  verdict: SourceEventVerdict;
  runId: string | null;
  detail: string | null;
}

export interface SourceEventStore {
  record(event: Omit<SourceEvent, 'id' | 'receivedAt'>): Promise<SourceEvent>;
  list(task: string, top: number): Promise<SourceEvent[]>;
  /** Was this delivery id (of this provider) seen for the task already? */
  seenDelivery(task: string, provider: string, deliveryId: string): Promise<boolean>;
  deleteTask(task: string): Promise<void>;
}
