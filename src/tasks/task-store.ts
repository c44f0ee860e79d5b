/** A credential part: sealed with the secret key, or the name of a stored secret. */
export type CredentialValue = { sealed: string } | { secret: string };

export interface TaskCredential {
  loginServer: string;
  username: CredentialValue;
  password: CredentialValue;
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
  createdAt: string;
  updatedAt: string;
}

export interface TaskStore {
  getTask(name: string): Promise<TaskRecord | null>;
  listTasks(): Promise<TaskRecord[]>;
  putTask(task: TaskRecord): Promise<void>;
  deleteTask(name: string): Promise<boolean>;
}
