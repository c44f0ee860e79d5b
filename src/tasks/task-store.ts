/** A credential part: sealed with the secret key, or the name of a stored secret. */
export type CredentialValue = { sealed: string } | { secret: string };

export interface TaskCredential {
  loginServer: string;
  username: CredentialValue;
  password: CredentialValue;
}

/** A named 5-field cron schedule in UTC (ACR's timer trigger). */
export interface TaskTimer {
  name: string;
  schedule: string;
  enabled: boolean;
}

/** What makes a task run by itself (ACR's trigger properties, plus new-tag policies and watches). */
export interface TaskTriggers {
  baseImage: {
    enabled: boolean;
    name: string;
    /** Runtime: the last stage's base only (ACR's default); All: every stage's base. */
    type: 'Runtime' | 'All';
    /** Opt-in new-tag trigger per base (`semver:>=15 <16`, `regex:^15\.[0-9]+-alpine$`), by normalised base repository. */
    tagPolicies: Record<string, string>;
  };
  source: {
    /** Commit trigger (default true for git contexts, as ACR). */
    enabled: boolean;
    name: string;
    pullRequest: boolean;
    /** The push webhooks' shared secret (HMAC key / GitLab token), sealed. */
    webhookSecret: CredentialValue | null;
    /** Poll the branch head this often (for git servers that cannot call in); null: webhooks only. */
    pollIntervalSeconds: number | null;
  };
  timers: TaskTimer[];
  /** Images watched explicitly (`--watch-image`), for tasks whose steps build nothing. */
  watchImages: string[];
}

export interface TaskRecord {
  name: string;
  /** file: a task file; cmd: one command; build: one Dockerfile build pushed to `images`. */
  kind: 'file' | 'cmd' | 'build';
  taskFile: string | null;
  /** Or the task file's path inside the remote source (`--file` with a git / tarball `--context`). */
  taskFilePath?: string | null;
  command: string | null;
  dockerfile: string | null;
  images: string[];
  /** Build arguments of a build task (`--arg`). */
  buildArgs: Record<string, string>;
  /** A snapshot of the source uploaded with the task... */
  contextId: string | null;
  /** ...or a git / tarball URL, fetched fresh by every run. */
  contextUrl?: string | null;
  /** For a private git context; sealed, or a stored secret's name. */
  gitAccessToken?: CredentialValue | null;
  values: Record<string, unknown>;
  /** `--set-secret` values kept with the task (sealed), given to every run like `--set-secret`. */
  secretValues?: Record<string, CredentialValue>;
  /** Logins for other registries (`berth task credential add`). */
  credentials?: TaskCredential[];
  timeoutSeconds: number;
  status: 'Enabled' | 'Disabled';
  /** os/architecture[/variant] its runs need. */
  platform: string;
  /** Absent on tasks created before triggers existed: read as defaults. */
  triggers?: TaskTriggers;
  createdAt: string;
  updatedAt: string;
}

export interface TaskStore {
  getTask(name: string): Promise<TaskRecord | null>;
  listTasks(): Promise<TaskRecord[]>;
  putTask(task: TaskRecord): Promise<void>;
  deleteTask(name: string): Promise<boolean>;
}
