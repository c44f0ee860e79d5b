export const runStatuses = ['Queued', 'Running', 'Succeeded', 'Failed', 'Canceled', 'Error', 'Timeout'] as const;
export type RunStatus = (typeof runStatuses)[number];
export const finalStatuses: ReadonlySet<RunStatus> = new Set(['Succeeded', 'Failed', 'Canceled', 'Error', 'Timeout']);

/** Where a run's source comes from: an uploaded archive (contextId) or a URL fetched at the start (contextUrl). */
interface RunSource {
  contextId: string | null;
  /** A git or tarball URL (`https://host/org/repo.git#ref:folder`); fetched by the agent. */
  contextUrl?: string | null;
  /**
   * A commit trigger's pushed commit and branch: the agent checks out exactly this commit of the
   * context's repository, and `{{.Run.Commit}}` / `{{.Run.Branch}}` come from here.
   */
  commit?: string | null;
  branch?: string | null;
}

export type RunSpec =
  | (RunSource & {
      kind: 'build';
      dockerfile: string;
      /** As given (templates unrendered); rendered when the run starts. */
      tags: string[];
      buildArgs: Record<string, string>;
      /** Names of build args whose values are secret (masked in logs, never shown). */
      secretBuildArgs: string[];
      target: string | null;
      noPush: boolean;
    })
  | (RunSource & { kind: 'cmd'; command: string })
  | (RunSource & {
      kind: 'file';
      /** The task file as given; rendered when the run starts (it may use {{.Run.ID}}). */
      taskFile: string | null;
      /** Or the task file's path inside a remote source (read once the agent has fetched it). */
      taskFilePath?: string | null;
      values: Record<string, unknown>;
      /** Names of --set-secret values (the values themselves never reach the record). */
      secretNames: string[];
    });

export interface OutputImage {
  registry: string;
  repository: string;
  tag: string;
  digest: string;
}

/** ACR's TRIGGER column: a source event type, else Timer, else Image Update, else Manual. */
export type RunTrigger = 'Manual' | 'Commit' | 'Pullrequest' | 'Image Update' | 'Timer';

/** ACR's `imageUpdateTrigger`, plus the digest each tag had before (null: a new tag). */
export interface ImageUpdateTrigger {
  id: string;
  timestamp: string;
  images: Array<{ registry: string; repository: string; tag: string; digest: string; previousDigest: string | null }>;
}

/** ACR's `sourceTrigger` (the push that fired the run). */
export interface SourceTrigger {
  id: string;
  eventType: 'Commit' | 'Pullrequest';
  provider: string;
  repositoryUrl: string;
  branch: string;
  commit: string;
}

/** ACR's `timerTrigger`. */
export interface TimerTrigger {
  timerTriggerName: string;
  scheduleOccurrence: string;
}

/** An image a build was built FROM, as the agent found it: normalised reference and digest used. */
export interface BaseImageUse {
  /** `docker.io` for Docker Hub; host[:port] otherwise. */
  registry: string;
  /** `library/alpine` for Docker Hub official images. */
  repository: string;
  tag: string;
  /** The digest the build used (null when the engine could not tell). */
  digest: string | null;
  /** runtime: the origin of the last stage; buildtime: any other stage's origin. */
  dependency: 'runtime' | 'buildtime';
}

/** Why a run was queued, beyond the trigger type. */
export interface RunTriggerDetails {
  trigger: RunTrigger;
  imageUpdateTrigger?: ImageUpdateTrigger;
  sourceTrigger?: SourceTrigger;
  timerTrigger?: TimerTrigger;
  /**
   * Tasks whose runs led to this one through image updates (oldest first): a push by a run
   * never fires a task already in its chain, which cuts cycles.
   */
  triggerChain?: string[];
  /** At most one run ever has a given key (a timer occurrence, a pushed commit). */
  triggerKey?: string;
}

export interface StepRecord {
  id: string;
  status: RunStatus | 'Skipped';
  startedAt: string | null;
  finishedAt: string | null;
  exitCode: number | null;
}

export interface RunRecord {
  id: string;
  seq: number;
  taskName: string | null;
  runType: 'QuickBuild' | 'QuickRun' | 'AutoBuild' | 'AutoRun';
  trigger: RunTrigger;
  imageUpdateTrigger?: ImageUpdateTrigger;
  sourceTrigger?: SourceTrigger;
  timerTrigger?: TimerTrigger;
  triggerChain?: string[];
  triggerKey?: string;
  status: RunStatus;
  /** os/architecture[/variant], e.g. linux/amd64. */
  platform: string;
  spec: RunSpec;
  timeoutSeconds: number;
  requestedBy: string;
  agent: string | null;
  leaseUntil: string | null;
  cancelRequested: boolean;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  outputImages: OutputImage[];
  /** The images its builds were built FROM (reported by the agent when the run ends). */
  baseImages?: BaseImageUse[];
  steps: StepRecord[];
  error: string | null;
}

export type NewRun = Omit<RunRecord, 'id' | 'seq' | 'status' | 'agent' | 'leaseUntil' | 'cancelRequested' | 'startedAt' | 'finishedAt' | 'outputImages' | 'baseImages' | 'steps' | 'error'>;

export interface RunQuery {
  taskName?: string;
  status?: RunStatus;
  image?: string;
  top: number;
}

/** A run with this trigger key exists already (the occurrence or commit has had its run). */
export class DuplicateTriggerError extends Error {
  constructor(
    readonly triggerKey: string,
    readonly runId: string,
  ) {
    super(`trigger ${triggerKey} already queued run ${runId}`);
  }
}

/** Runs and their logs: the queue agents claim work from, and the history `list-runs` shows. */
export interface RunStore {
  /**
   * Assigns the next short id (cb1, cb2, ...) and queues the run, with its sealed secrets (if
   * any) in the same transaction, so no agent can claim it before they are there. A run with a
   * `triggerKey` that an earlier run has throws DuplicateTriggerError.
   */
  createRun(run: NewRun, sealedSecrets?: string | null): Promise<RunRecord>;
  /** The run's sealed secrets, removed as they are read (they are handed over once). */
  takeRunSecrets(id: string): Promise<string | null>;
  getRun(id: string): Promise<RunRecord | null>;
  listRuns(query: RunQuery): Promise<RunRecord[]>;
  /**
   * Atomically takes the oldest queued run for `agent` (never the same run for two agents),
   * among runs for `platforms` when given.
   */
  claimRun(agent: string, leaseSeconds: number, platforms?: string[]): Promise<RunRecord | null>;
  /** Extends the lease; false when the run is no longer this agent's. */
  renewLease(id: string, agent: string, leaseSeconds: number): Promise<boolean>;
  updateRun(id: string, patch: Partial<Pick<RunRecord, 'status' | 'startedAt' | 'finishedAt' | 'outputImages' | 'baseImages' | 'steps' | 'error' | 'leaseUntil'>>): Promise<void>;
  /** Replaces a still-queued run's image-update details (a newer push collapses into it); false once it started. */
  updateQueuedTrigger(id: string, imageUpdateTrigger: ImageUpdateTrigger): Promise<boolean>;
  /** Asks a run to stop; a queued run ends Canceled at once (and its sealed secrets go). */
  requestCancel(id: string): Promise<boolean>;
  /** Marks the runs `agent` still holds as Error (it restarted: they died with it); returns their ids. */
  abandonRuns(agent: string, error: string): Promise<string[]>;
  /** Marks Running runs whose lease ran out as Error; returns their ids. */
  expireLeases(): Promise<string[]>;
  appendLog(id: string, text: string): Promise<void>;
  /** Deletes the logs of runs that finished before `before`; returns how many runs lost their log. */
  deleteLogsBefore(before: string): Promise<number>;
  /** Log chunks after `afterSeq` (0 = from the start). */
  readLog(id: string, afterSeq: number): Promise<Array<{ seq: number; text: string }>>;
}
