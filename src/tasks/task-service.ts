import { RegistryError } from '../registry/errors.js';
import type { ContextStore } from './context-store.js';
import { parseSourceLocation } from './sources/remote-source.js';
import { normalizePlatform } from './platform.js';
import { defaultRunTimeoutSeconds, type RunService } from './run-service.js';
import type { RunRecord } from './run-store.js';
import { parseTaskFile, placeholderSecrets } from './task-file.js';
import { placeholderRun } from './templating.js';
import type { CredentialValue, TaskRecord, TaskStore } from './task-store.js';
import { secretNameOf, type SecretStore } from '../secrets/secret-store.js';
import type { RegistryLogin } from './task-runner.js';
import type { RunTriggerDetails } from './run-store.js';
import { applyTriggerInput, checkTimerName, cronOf, defaultTriggers, isGitContext, triggersOf, type TriggerInput } from './task-triggers.js';
import { generateWebhookSecret } from '../triggers/source-webhooks.js';

export interface CredentialInput {
  loginServer: string;
  /** Plain text (stored sealed), `secret:NAME`, or a Key Vault secret URL (names a Berth secret). */
  username: string;
  password: string;
}

const namePattern = /^[a-zA-Z0-9][a-zA-Z0-9-]{4,49}$/;

export interface TaskInput {
  taskFile?: string | null;
  taskFilePath?: string | null;
  command?: string | null;
  dockerfile?: string | null;
  images?: string[];
  buildArgs?: Record<string, string>;
  contextId?: string | null;
  contextUrl?: string | null;
  gitAccessToken?: string | null;
  values?: Record<string, unknown>;
  secretValues?: Record<string, string>;
  timeoutSeconds?: number;
  status?: 'Enabled' | 'Disabled';
  platform?: string;
  triggers?: TriggerInput;
}

/** Told when a task is saved or deleted (null), so its triggers (timers, polls, bases) follow. */
export type TaskChangeListener = (name: string, task: TaskRecord | null) => Promise<void>;

/** What else a triggered run carries: the pushed commit, or a new base tag's build argument. */
export interface TriggeredRunOptions {
  trigger: RunTriggerDetails;
  commit?: string;
  branch?: string;
  buildArgs?: Record<string, string>;
  values?: Record<string, unknown>;
}

const invalid = (message: string): RegistryError => new RegistryError('INVALID_REQUEST', message);

/** Tasks (ACR: `az acr task`): a saved task file, command or build, run on demand or by its triggers. */
export class TaskService {
  private readonly listeners: TaskChangeListener[] = [];

  constructor(
    private readonly store: TaskStore,
    private readonly runs: RunService,
    private readonly contexts: ContextStore,
    private readonly secrets: SecretStore,
  ) {}

  onChange(listener: TaskChangeListener): void {
    this.listeners.push(listener);
  }

  private async save(task: TaskRecord): Promise<void> {
    await this.store.putTask(task);
    for (const listener of this.listeners) await listener(task.name, task);
  }

  // ---- timers (ACR: az acr task timer) ----------------------------------------------------------

  async setTimer(name: string, timer: { name: string; schedule?: string; enabled?: boolean }, mode: 'add' | 'update'): Promise<TaskRecord> {
    const task = await this.show(name);
    const triggers = triggersOf(task);
    checkTimerName(timer.name);
    const existing = triggers.timers.find((t) => t.name === timer.name);
    if (mode === 'add' && existing) throw new RegistryError('CONFLICT', `task "${name}" already has a timer "${timer.name}"; use update`);
    if (mode === 'update' && !existing) throw new RegistryError('NOT_FOUND', `task "${name}" has no timer "${timer.name}"`);
    if (mode === 'add' && !timer.schedule) throw invalid('a timer needs --schedule');
    if (timer.schedule) cronOf(timer.schedule);
    const updated = { name: timer.name, schedule: timer.schedule ?? existing!.schedule, enabled: timer.enabled ?? existing?.enabled ?? true };
    const timers = [...triggers.timers.filter((t) => t.name !== timer.name), updated].sort((a, b) => a.name.localeCompare(b.name));
    const saved = { ...task, triggers: { ...triggers, timers }, updatedAt: new Date().toISOString() };
    await this.save(saved);
    return saved;
  }

  async removeTimer(name: string, timerName: string): Promise<TaskRecord> {
    const task = await this.show(name);
    const triggers = triggersOf(task);
    if (!triggers.timers.some((t) => t.name === timerName)) throw new RegistryError('NOT_FOUND', `task "${name}" has no timer "${timerName}"`);
    const saved = { ...task, triggers: { ...triggers, timers: triggers.timers.filter((t) => t.name !== timerName) }, updatedAt: new Date().toISOString() };
    await this.save(saved);
    return saved;
  }

  /** The task's git token in clear (the branch-head poll needs it too). */
  async gitAccessToken(name: string): Promise<string | null> {
    const task = await this.store.getTask(name);
    return task?.gitAccessToken ? this.reveal(task.gitAccessToken) : null;
  }

  /** The commit webhooks' secret in clear (for verifying a delivery). */
  async webhookSecret(name: string): Promise<string | null> {
    const task = await this.store.getTask(name);
    const sealed = task ? triggersOf(task).source.webhookSecret : null;
    return sealed ? this.reveal(sealed) : null;
  }

  // ---- credentials for other registries -------------------------------------------------------

  async listCredentials(name: string): Promise<Array<{ loginServer: string; username: string; password: string }>> {
    return this.view(await this.show(name)).credentials;
  }

  async setCredential(name: string, input: CredentialInput, mode: 'add' | 'update'): Promise<void> {
    const task = await this.show(name);
    const server = input.loginServer.replace(/^https?:\/\//, '').replace(/\/+$/, '');
    if (!/^[a-zA-Z0-9.-]+(:\d+)?$/.test(server)) throw invalid(`invalid --login-server "${input.loginServer}"`);
    const credentials = (task.credentials ?? []).filter((c) => c.loginServer !== server);
    const exists = credentials.length !== (task.credentials ?? []).length;
    if (mode === 'add' && exists) throw new RegistryError('CONFLICT', `task "${name}" already has a credential for ${server}; use update`);
    if (mode === 'update' && !exists) throw new RegistryError('NOT_FOUND', `task "${name}" has no credential for ${server}`);
    credentials.push({ loginServer: server, username: this.credentialValue(input.username), password: this.credentialValue(input.password) });
    await this.save({ ...task, credentials, updatedAt: new Date().toISOString() });
  }

  async removeCredential(name: string, loginServer: string): Promise<void> {
    const task = await this.show(name);
    const credentials = (task.credentials ?? []).filter((c) => c.loginServer !== loginServer);
    if (credentials.length === (task.credentials ?? []).length) throw new RegistryError('NOT_FOUND', `task "${name}" has no credential for ${loginServer}`);
    await this.save({ ...task, credentials, updatedAt: new Date().toISOString() });
  }

  /** For the agent: the task's logins, decrypted. */
  async logins(name: string): Promise<RegistryLogin[]> {
    const task = await this.store.getTask(name);
    return Promise.all((task?.credentials ?? []).map(async (c) => ({ server: c.loginServer, username: await this.reveal(c.username), password: await this.reveal(c.password) })));
  }

  /** What the API shows of a task: sealed values and tokens are described, never returned. */
  view(task: TaskRecord): Omit<TaskRecord, 'secretValues' | 'gitAccessToken' | 'credentials'> & { secretValues: Record<string, string>; gitAccessToken: string | null; credentials: Array<{ loginServer: string; username: string; password: string }> } {
    const describe = (v: CredentialValue) => ('secret' in v ? `secret:${v.secret}` : '(stored, encrypted)');
    const triggers = triggersOf(task);
    return {
      ...task,
      triggers: { ...triggers, source: { ...triggers.source, webhookSecret: triggers.source.webhookSecret ? describe(triggers.source.webhookSecret) : null } as never },
      secretValues: Object.fromEntries(Object.entries(task.secretValues ?? {}).map(([k, v]) => [k, describe(v)])),
      gitAccessToken: task.gitAccessToken ? describe(task.gitAccessToken) : null,
      credentials: (task.credentials ?? []).map((c) => ({ loginServer: c.loginServer, username: describe(c.username), password: describe(c.password) })),
    };
  }

  private sealAll(values: Record<string, string>): Record<string, CredentialValue> {
    return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, this.credentialValue(v)]));
  }

  private reveal(value: CredentialValue): Promise<string> {
    return 'secret' in value ? this.secrets.reveal(value.secret) : Promise.resolve(this.secrets.open(value.sealed));
  }

  private credentialValue(value: string): CredentialValue {
    if (value.startsWith('secret:') || /^https:\/\/[^/]+\/secrets\//.test(value)) return { secret: secretNameOf(value) };
    return { sealed: this.secrets.seal(value) };
  }

  list(): Promise<TaskRecord[]> {
    return this.store.listTasks();
  }

  async show(name: string): Promise<TaskRecord> {
    const task = await this.store.getTask(name);
    if (!task) throw new RegistryError('NOT_FOUND', `task "${name}" not found`);
    return task;
  }

  async create(name: string, input: TaskInput): Promise<TaskRecord> {
    if (!namePattern.test(name)) throw invalid('task names are 5-50 letters, digits or "-"');
    if (await this.store.getTask(name)) throw new RegistryError('CONFLICT', `task "${name}" already exists`);
    const now = new Date().toISOString();
    const contextUrl = input.contextUrl ?? null;
    const triggers = applyTriggerInput(defaultTriggers(isGitContext(contextUrl)), input.triggers ?? {});
    // Generated for every git task, shown once: the commit trigger may be switched on later.
    const webhookSecret = isGitContext(contextUrl) ? generateWebhookSecret() : null;
    if (webhookSecret) triggers.source.webhookSecret = this.credentialValue(webhookSecret);
    const task = this.validate({
      name,
      kind: input.taskFile || input.taskFilePath ? 'file' : input.command ? 'cmd' : 'build',
      taskFile: input.taskFile ?? null,
      taskFilePath: input.taskFilePath ?? null,
      command: input.command ?? null,
      dockerfile: input.dockerfile ?? null,
      images: input.images ?? [],
      buildArgs: input.buildArgs ?? {},
      contextId: input.contextId ?? null,
      contextUrl: input.contextUrl ?? null,
      gitAccessToken: input.gitAccessToken ? this.credentialValue(input.gitAccessToken) : null,
      values: input.values ?? {},
      secretValues: this.sealAll(input.secretValues ?? {}),
      timeoutSeconds: input.timeoutSeconds ?? defaultRunTimeoutSeconds,
      status: input.status ?? 'Enabled',
      platform: normalizePlatform(input.platform),
      triggers,
      createdAt: now,
      updatedAt: now,
    });
    await this.save(task);
    return Object.assign(task, webhookSecret ? { webhookSecretOnce: webhookSecret } : {});
  }

  async update(name: string, input: TaskInput): Promise<TaskRecord> {
    const current = await this.show(name);
    const updated = this.validate({
      ...current,
      ...(input.taskFile !== undefined ? { taskFile: input.taskFile, taskFilePath: null, kind: 'file' as const } : {}),
      ...(input.taskFilePath !== undefined ? { taskFilePath: input.taskFilePath, taskFile: null, kind: 'file' as const } : {}),
      ...(input.command !== undefined ? { command: input.command, kind: 'cmd' as const } : {}),
      ...(input.dockerfile !== undefined ? { dockerfile: input.dockerfile } : {}),
      ...(input.images !== undefined ? { images: input.images } : {}),
      ...(input.buildArgs !== undefined ? { buildArgs: { ...current.buildArgs, ...input.buildArgs } } : {}),
      // A new source replaces the old one, whichever kind either is.
      ...(input.contextId !== undefined ? { contextId: input.contextId, contextUrl: null } : {}),
      ...(input.contextUrl !== undefined ? { contextUrl: input.contextUrl, contextId: null } : {}),
      ...(input.gitAccessToken !== undefined ? { gitAccessToken: input.gitAccessToken ? this.credentialValue(input.gitAccessToken) : null } : {}),
      ...(input.values !== undefined ? { values: { ...current.values, ...input.values } } : {}),
      ...(input.secretValues !== undefined ? { secretValues: { ...current.secretValues, ...this.sealAll(input.secretValues) } } : {}),
      ...(input.timeoutSeconds !== undefined ? { timeoutSeconds: input.timeoutSeconds } : {}),
      ...(input.status !== undefined ? { status: input.status } : {}),
      ...(input.platform !== undefined ? { platform: normalizePlatform(input.platform) } : {}),
      ...(input.triggers !== undefined ? { triggers: applyTriggerInput(triggersOf(current), input.triggers) } : {}),
      updatedAt: new Date().toISOString(),
    });
    if (current.contextId && updated.contextId !== current.contextId) await this.contexts.delete(current.contextId);
    await this.save(updated);
    return updated;
  }

  async delete(name: string): Promise<void> {
    const task = await this.show(name);
    await this.store.deleteTask(name);
    if (task.contextId) await this.contexts.delete(task.contextId);
    for (const listener of this.listeners) await listener(name, null);
  }

  /** `berth task run`: a manual run with the task's values (overridden by `values`). */
  async run(name: string, requestedBy: string, values: Record<string, unknown> = {}, secrets: Record<string, string> = {}, triggered?: TriggeredRunOptions): Promise<RunRecord> {
    const task = await this.show(name);
    if (task.status === 'Disabled') throw new RegistryError('CONFLICT', `task "${name}" is disabled`);
    const gitAccessToken = task.gitAccessToken ? await this.reveal(task.gitAccessToken) : null;
    const base = {
      taskName: task.name,
      platform: task.platform,
      contextId: task.contextId,
      contextUrl: task.contextUrl ?? null,
      gitAccessToken,
      timeoutSeconds: task.timeoutSeconds,
      ...(triggered ? { trigger: triggered.trigger, commit: triggered.commit ?? null, branch: triggered.branch ?? null } : {}),
    };
    values = { ...values, ...triggered?.values };
    if (task.kind === 'build') {
      return this.runs.quickBuild(requestedBy, { ...base, tags: task.images, dockerfile: task.dockerfile ?? 'Dockerfile', buildArgs: { ...task.buildArgs, ...triggered?.buildArgs } });
    }
    const file = task.taskFilePath ? { taskFilePath: task.taskFilePath } : { taskFile: taskFileOf(task) };
    const stored: Record<string, string> = {};
    for (const [key, value] of Object.entries(task.secretValues ?? {})) stored[key] = await this.reveal(value);
    return this.runs.fileRun(requestedBy, { ...base, ...file, values: { ...task.values, ...values }, secrets: { ...stored, ...secrets } });
  }

  private validate(task: TaskRecord): TaskRecord {
    if (task.kind === 'build') {
      if (!task.dockerfile) throw invalid('give --file (a task file), --cmd, or -f Dockerfile with --image');
      if (task.images.length === 0) throw invalid('a build task needs at least one --image');
      if (!task.contextId && !task.contextUrl) throw invalid('a build task needs a --context (a folder, or a git or tarball URL)');
    }
    if (task.contextUrl) parseSourceLocation(task.contextUrl);
    if (task.gitAccessToken && !task.contextUrl) throw invalid('--git-access-token needs a git --context URL');
    if (!Number.isInteger(task.timeoutSeconds) || task.timeoutSeconds < 1 || task.timeoutSeconds > 8 * 3600) throw invalid('--timeout is 1 to 28800 seconds');
    if (task.taskFilePath && !task.contextUrl) throw invalid('a task file path needs a git or tarball --context to read it from');
    if (task.kind !== 'build' && !task.taskFilePath) {
      const placeholder: Record<string, string> = { ...placeholderRun({ taskName: task.name }) };
      const secretValues = Object.fromEntries(Object.keys(task.secretValues ?? {}).map((key) => [key, '***']));
      parseTaskFile(taskFileOf(task), { Run: placeholder, Values: { ...task.values, ...secretValues }, Secrets: placeholderSecrets });
    }
    return task;
  }
}

/** A cmd task is a one-step task file, as `az acr run --cmd` generates (v1.1.0, no workdir override). */
function taskFileOf(task: TaskRecord): string {
  if (task.kind === 'file') return task.taskFile!;
  return `version: v1.1.0\nsteps:\n  - cmd: ${JSON.stringify(task.command)}\n    disableWorkingDirectoryOverride: true\n`;
}
