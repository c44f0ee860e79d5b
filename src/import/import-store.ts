export type ImportStatus = 'queued' | 'running' | 'succeeded' | 'failed';

export interface ImportProgress {
  manifestsTotal: number;
  manifestsDone: number;
  blobsTotal: number;
  blobsDone: number;
  bytesTotal: number;
  bytesDone: number;
}

export interface ImportJob {
  id: string;
  source: string;
  targetTags: string[];
  untaggedRepositories: string[];
  force: boolean;
  includeReferrers: boolean;
  /** Who asked: the job runs with their rights, also after a restart. */
  requestedBy: { kind: 'user' | 'token' | 'anonymous'; name: string };
  /** Credentials for the source are held in memory only; a restart cannot resume such a job. */
  hasCredentials: boolean;
  status: ImportStatus;
  error: string | null;
  progress: ImportProgress;
  result: { digest: string; mediaType: string; manifests: number } | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface ImportStore {
  putImport(job: ImportJob): Promise<void>;
  getImport(id: string): Promise<ImportJob | null>;
  /** Newest first; `offset` skips that many. */
  listImports(limit: number, offset?: number): Promise<ImportJob[]>;
  /** Jobs a restart interrupted. */
  unfinishedImports(): Promise<ImportJob[]>;
}

export const emptyProgress = (): ImportProgress => ({ manifestsTotal: 0, manifestsDone: 0, blobsTotal: 0, blobsDone: 0, bytesTotal: 0, bytesDone: 0 });
