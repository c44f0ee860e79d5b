import { RegistryError } from '../registry/errors.js';
import { isRepositoryName } from '../registry/reference.js';
import type { ContextStore } from './context-store.js';
import { parseSourceLocation } from './sources/remote-source.js';
import { normalizePlatform } from './platform.js';
import { parseTaskFile, placeholderSecrets } from './task-file.js';
import { placeholderRun } from './templating.js';
import { finalStatuses, type RunQuery, type RunRecord, type RunSpec, type RunStore, type RunTriggerDetails } from './run-store.js';

export const defaultRunTimeoutSeconds = 3600;

/** A run's source: an uploaded context, or a git / tarball URL (with a token for private repositories). */
export interface SourceRequest {
  /** os/architecture[/variant]; default linux/amd64. */
  platform?: string | null;
  contextId?: string | null;
  contextUrl?: string | null;
  gitAccessToken?: string | null;
  /** A commit trigger's pushed commit and branch (the agent checks out exactly that commit). */
  commit?: string | null;
  branch?: string | null;
  /** What queued the run, when it was not a person (a push, a commit, a timer). */
  trigger?: RunTriggerDetails;
}

export interface QuickBuildRequest extends SourceRequest {
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

export interface FileRunRequest extends SourceRequest {
  taskName?: string | null;
  /** The file's text, or (with a context URL) its path in that source. */
  taskFile?: string | null;
  taskFilePath?: string | null;
  values?: Record<string, unknown>;
  secrets?: Record<string, string>;
  timeoutSeconds?: number;
}

export interface QuickRunRequest extends SourceRequest {
  command: string;
  timeoutSeconds?: number;
}

/** Seals values at rest (the secret store's cipher). */
export interface Sealer {
  encrypt(value: string): string;
  decrypt(sealed: string): string;
}

/** What a run carries besides its record: handed to its agent once, sealed until then. */
interface RunSecrets {
  secrets: Record<string, string>;
  gitAccessToken: string | null;
}

/**
 * Queues quick builds and quick runs and answers questions about runs. Secret values (secret
 * build args, --set-secret, a git token) never reach the run record or a log: they are stored
 * sealed beside the queued run and handed to the agent that claims it, once.
 */
export class RunService {
  private lastLogSweep = 0;
  private readonly agents = new Map<string, { platforms: string[]; seen: number }>();

  constructor(
    private readonly store: RunStore,
    readonly contexts: ContextStore,
    private readonly sealer: Sealer,
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
    const source = sourceOf(request);
    if (!source.contextId && !source.contextUrl) throw new RegistryError('INVALID_REQUEST', 'a build needs a source context (a folder or a git / tarball URL)');
    const spec: RunSpec = {
      kind: 'build',
      ...source,
      dockerfile: request.dockerfile ?? 'Dockerfile',
      tags: request.tags,
      buildArgs: request.buildArgs ?? {},
      secretBuildArgs: secretNames,
      target: request.target ?? null,
      noPush: request.noPush ?? false,
    };
    return this.create(requestedBy, request.taskName ? 'AutoBuild' : 'QuickBuild', spec, { ...request, secrets: request.secretBuildArgs ?? {} });
  }

  async quickRun(requestedBy: string, request: QuickRunRequest): Promise<RunRecord> {
    if (!request.command.trim()) throw new RegistryError('INVALID_REQUEST', '--cmd is empty');
    return this.create(requestedBy, 'QuickRun', { kind: 'cmd', ...sourceOf(request), command: request.command }, request);
  }

  /** `berth run -f`: the file is checked now (templates, YAML, steps) so mistakes come back at once. */
  async fileRun(requestedBy: string, request: FileRunRequest): Promise<RunRecord> {
    const secrets = request.secrets ?? {};
    const placeholder: Record<string, string> = { ...placeholderRun() };
    if (request.taskFile) parseTaskFile(request.taskFile, { Run: placeholder, Values: { ...request.values, ...secrets }, Secrets: placeholderSecrets });
    else if (!request.taskFilePath) throw new RegistryError('INVALID_REQUEST', 'a file run needs the task file (-f)');
    else if (!request.contextUrl) throw new RegistryError('INVALID_REQUEST', 'a task file path needs a git or tarball context to read it from');
    const spec: RunSpec = { kind: 'file', ...sourceOf(request), taskFile: request.taskFile ?? null, taskFilePath: request.taskFile ? null : request.taskFilePath!, values: request.values ?? {}, secretNames: Object.keys(secrets) };
    return this.create(requestedBy, request.taskName ? 'AutoRun' : 'QuickRun', spec, { ...request, secrets });
  }

  /** Hands an agent the secret values and git token of a run it has claimed (once). */
  async takeSecrets(runId: string): Promise<RunSecrets> {
    const sealed = await this.store.takeRunSecrets(runId);
    return sealed ? (JSON.parse(this.sealer.decrypt(sealed)) as RunSecrets) : { secrets: {}, gitAccessToken: null };
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

  /**
   * Server-side upkeep, whichever agents run: runs whose agent stopped renewing its lease end as
   * Error (and are announced), and logs older than the retention are deleted.
   */
  async sweep(logRetentionDays: number): Promise<{ expired: string[]; logsDeleted: number }> {
    const expired = await this.store.expireLeases();
    for (const id of expired) {
      const run = await this.store.getRun(id);
      if (run) this.onChange(run);
    }
    let logsDeleted = 0;
    // Logs age in days: looking once a minute is plenty.
    if (Date.now() - this.lastLogSweep > 60_000) {
      this.lastLogSweep = Date.now();
      logsDeleted = await this.store.deleteLogsBefore(new Date(Date.now() - logRetentionDays * 86_400_000).toISOString());
    }
    return { expired, logsDeleted };
  }

  readLog(id: string, afterSeq: number): Promise<Array<{ seq: number; text: string }>> {
    return this.store.readLog(id, afterSeq);
  }

  /** An agent starting under a name that still holds runs was restarted: those runs died with it. */
  async abandonRunsOf(agent: string): Promise<string[]> {
    const ids = await this.store.abandonRuns(agent, `the agent ${agent} restarted while running this run`);
    for (const id of ids) {
      const run = await this.store.getRun(id);
      if (run) this.onChange(run);
    }
    return ids;
  }

  /** Agents tell which platforms they run each time they ask for work (the in-process one too). */
  noteAgent(name: string, platforms: string[]): void {
    this.agents.set(name, { platforms, seen: Date.now() });
  }

  /** Platforms of the agents heard from in the last five minutes. */
  private livePlatforms(): Set<string> {
    const since = Date.now() - 5 * 60_000;
    return new Set([...this.agents.values()].filter((a) => a.seen >= since).flatMap((a) => a.platforms));
  }

  private async create(
    requestedBy: string,
    runType: RunRecord['runType'],
    spec: RunSpec,
    options: {
      timeoutSeconds?: number | undefined;
      taskName?: string | null | undefined;
      gitAccessToken?: string | null | undefined;
      platform?: string | null | undefined;
      secrets?: Record<string, string>;
      trigger?: RunTriggerDetails | undefined;
    },
  ): Promise<RunRecord> {
    const timeout = options.timeoutSeconds ?? defaultRunTimeoutSeconds;
    if (!Number.isInteger(timeout) || timeout < 1 || timeout > 8 * 3600) throw new RegistryError('INVALID_REQUEST', '--timeout is 1 to 28800 seconds');
    const platform = normalizePlatform(options.platform);
    const taskName = options.taskName ?? null;
    const carried: RunSecrets = { secrets: options.secrets ?? {}, gitAccessToken: options.gitAccessToken ?? null };
    const hasSecrets = Object.keys(carried.secrets).length > 0 || carried.gitAccessToken !== null;
    const run = await this.store.createRun({
      taskName,
      runType,
      ...(options.trigger ?? { trigger: 'Manual' }),
      platform,
      spec,
      timeoutSeconds: timeout,
      requestedBy,
      createdAt: new Date().toISOString(),
    }, hasSecrets ? this.sealer.encrypt(JSON.stringify(carried)) : null);
    const live = this.livePlatforms();
    const waiting = live.has(platform)
      ? 'Waiting for an agent...\n'
      : `Waiting for an agent that runs ${platform}: none has asked for work in the last 5 minutes${live.size ? ` (agents run ${[...live].sort().join(', ')})` : ''}...\n`;
    await this.store.appendLog(run.id, `Queued a run with ID: ${run.id}\n${waiting}`);
    this.onChange(run);
    return run;
  }
}

/** An uploaded context or a URL, never both; a URL is checked now so a typo fails at once. */
function sourceOf(request: SourceRequest): { contextId: string | null; contextUrl: string | null; commit?: string; branch?: string } {
  if (request.contextId && request.contextUrl) throw new RegistryError('INVALID_REQUEST', 'give an uploaded context or a context URL, not both');
  if (request.contextUrl) parseSourceLocation(request.contextUrl);
  if (request.gitAccessToken && !request.contextUrl) throw new RegistryError('INVALID_REQUEST', '--git-access-token needs a git context URL');
  if (request.commit && !request.contextUrl) throw new RegistryError('INVALID_REQUEST', 'a pinned commit needs a git context URL');
  return {
    contextId: request.contextId ?? null,
    contextUrl: request.contextUrl ?? null,
    ...(request.commit ? { commit: request.commit } : {}),
    ...(request.branch ? { branch: request.branch } : {}),
  };
}
