import { RegistryError } from '../registry/errors.js';
import { isRepositoryName } from '../registry/reference.js';
import type { ContextStore } from './context-store.js';
import { parseTaskFile, placeholderSecrets } from './task-file.js';
import { finalStatuses, type RunQuery, type RunRecord, type RunSpec, type RunStore } from './run-store.js';

export const defaultRunTimeoutSeconds = 3600;

export interface QuickBuildRequest {
  contextId: string;
  /** Set when a task runs (the run then belongs to it and its context is the task's). */
  taskName?: string | null;
  tags: string[];
  dockerfile?: string;
  buildArgs?: Record<string, string>;
  secretBuildArgs?: Record<string, string>;
  target?: string;
  noPush?: boolean;
  timeoutSeconds?: number;
}

export interface FileRunRequest {
  contextId?: string | null;
  taskName?: string | null;
  taskFile: string;
  values?: Record<string, unknown>;
  secrets?: Record<string, string>;
  timeoutSeconds?: number;
}

export interface QuickRunRequest {
  contextId?: string | null;
  command: string;
  timeoutSeconds?: number;
}

/**
 * Queues quick builds and quick runs and answers questions about runs. Secret build-arg values
 * live only in memory until an agent takes the run (they never reach the run record or a log).
 */
export class RunService {
  private readonly secrets = new Map<string, Record<string, string>>();

  constructor(
    private readonly store: RunStore,
    readonly contexts: ContextStore,
    private readonly onChange: (run: RunRecord) => void = () => undefined,
  ) {}

  /** Tells subscribers (webhooks) about a run's new state. */
  changed(run: RunRecord): void {
    this.onChange(run);
  }

  async quickBuild(requestedBy: string, request: QuickBuildRequest): Promise<RunRecord> {
    if (request.tags.length === 0 && !request.noPush) throw new RegistryError('INVALID_REQUEST', 'give at least one -t repo:tag (or --no-push)');
    for (const tag of request.tags) {
      const repository = tag.replace(/\{\{[^}]*\}\}/g, 'x').split(':')[0]!.split('/').filter((p) => !p.includes('.') && !p.includes(':')).join('/');
      if (!repository || !isRepositoryName(repository.toLowerCase())) throw new RegistryError('INVALID_REQUEST', `invalid tag "${tag}"`);
    }
    const secretNames = Object.keys(request.secretBuildArgs ?? {});
    const spec: RunSpec = {
      kind: 'build',
      contextId: request.contextId,
      dockerfile: request.dockerfile ?? 'Dockerfile',
      tags: request.tags,
      buildArgs: request.buildArgs ?? {},
      secretBuildArgs: secretNames,
      target: request.target ?? null,
      noPush: request.noPush ?? false,
    };
    const run = await this.create(requestedBy, request.taskName ? 'AutoBuild' : 'QuickBuild', spec, request.timeoutSeconds, request.taskName ?? null);
    if (secretNames.length > 0) this.secrets.set(run.id, request.secretBuildArgs!);
    return run;
  }

  async quickRun(requestedBy: string, request: QuickRunRequest): Promise<RunRecord> {
    if (!request.command.trim()) throw new RegistryError('INVALID_REQUEST', '--cmd is empty');
    return this.create(requestedBy, 'QuickRun', { kind: 'cmd', contextId: request.contextId ?? null, command: request.command }, request.timeoutSeconds);
  }

  /** `berth run -f`: the file is checked now (templates, YAML, steps) so mistakes come back at once. */
  async fileRun(requestedBy: string, request: FileRunRequest): Promise<RunRecord> {
    const secrets = request.secrets ?? {};
    const placeholder = { ID: 'cb0', Registry: 'registry', RegistryName: 'registry', Date: '', OS: 'linux', Architecture: 'amd64', TaskName: '', Commit: '', Branch: '', SharedVolume: '' };
    parseTaskFile(request.taskFile, { Run: placeholder, Values: request.values ?? {}, Secrets: placeholderSecrets });
    const spec: RunSpec = { kind: 'file', contextId: request.contextId ?? null, taskFile: request.taskFile, values: request.values ?? {}, secretNames: Object.keys(secrets) };
    const run = await this.create(requestedBy, request.taskName ? 'AutoRun' : 'QuickRun', spec, request.timeoutSeconds, request.taskName ?? null);
    if (Object.keys(secrets).length > 0) this.secrets.set(run.id, secrets);
    return run;
  }

  /** Hands an agent the secret values of a run it has claimed (once). */
  takeSecrets(runId: string): Record<string, string> {
    const values = this.secrets.get(runId) ?? {};
    this.secrets.delete(runId);
    return values;
  }

  async get(id: string): Promise<RunRecord> {
    const run = await this.store.getRun(id);
    if (!run) throw new RegistryError('NOT_FOUND', `run "${id}" not found`);
    return run;
  }

  list(query: RunQuery): Promise<RunRecord[]> {
    return this.store.listRuns(query);
  }

  async cancel(id: string): Promise<RunRecord> {
    const run = await this.get(id);
    if (finalStatuses.has(run.status)) throw new RegistryError('CONFLICT', `run ${id} already ended (${run.status})`);
    await this.store.requestCancel(id);
    const after = await this.get(id);
    if (after.status === 'Canceled') this.onChange(after); // a queued run ends here, without an agent
    return after;
  }

  readLog(id: string, afterSeq: number): Promise<Array<{ seq: number; text: string }>> {
    return this.store.readLog(id, afterSeq);
  }

  private async create(requestedBy: string, runType: RunRecord['runType'], spec: RunSpec, timeoutSeconds: number | undefined, taskName: string | null = null): Promise<RunRecord> {
    const timeout = timeoutSeconds ?? defaultRunTimeoutSeconds;
    if (!Number.isInteger(timeout) || timeout < 1 || timeout > 8 * 3600) throw new RegistryError('INVALID_REQUEST', '--timeout is 1 to 28800 seconds');
    const run = await this.store.createRun({
      taskName,
      runType,
      trigger: 'Manual',
      platform: 'linux',
      spec,
      timeoutSeconds: timeout,
      requestedBy,
      createdAt: new Date().toISOString(),
    });
    await this.store.appendLog(run.id, `Queued a run with ID: ${run.id}\nWaiting for an agent...\n`);
    this.onChange(run);
    return run;
  }
}
