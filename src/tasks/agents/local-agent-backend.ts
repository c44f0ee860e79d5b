import type { Readable } from 'node:stream';
import { RegistryError } from '../../registry/errors.js';
import type { ContextStore } from '../context-store.js';
import type { RunService } from '../run-service.js';
import type { RunRecord, RunStore } from '../run-store.js';
import type { RegistryLogin } from '../task-runner.js';
import type { AgentBackend, ClaimedRun, RunOutcome, RunProgress } from './agent-backend.js';

/** Short-lived registry credentials for one run, limited to what it needs. */
export interface RunCredentialIssuer {
  issue(runId: string, pushRepositories: string[], ttlSeconds: number, purgeRepositories: string[]): Promise<{ username: string; password: string } | null>;
  revoke(runId: string): Promise<void>;
}

/** What a run may use besides its own registry token: stored secrets and its task's credentials. */
export interface RunResources {
  secret(name: string): Promise<string>;
  taskLogins(taskName: string): Promise<RegistryLogin[]>;
  /** cmd image aliases (`bash`, `curl`, ...), configured because this machine pulls from no public registry. */
  imageAliases: Record<string, string>;
}

/** The server side of the agent seam: the stores themselves (the in-process agent and the agent API use it). */
export class LocalAgentBackend implements AgentBackend {
  constructor(
    private readonly store: RunStore,
    private readonly runs: RunService,
    private readonly contexts: ContextStore,
    private readonly credentials: RunCredentialIssuer,
    private readonly resources: RunResources,
    private readonly registryAddress: () => { host: string; scheme: 'http' | 'https' },
    private readonly leaseSeconds = 30,
  ) {}

  registry(): { host: string; scheme: 'http' | 'https' } {
    return this.registryAddress();
  }

  started(agent: string): Promise<string[]> {
    return this.runs.abandonRunsOf(agent);
  }

  async claim(agent: string, platforms: string[]): Promise<ClaimedRun | null> {
    this.runs.noteAgent(agent, platforms);
    const run = await this.store.claimRun(agent, this.leaseSeconds, platforms);
    if (!run) return null;
    return { run, ...(await this.runs.takeSecrets(run.id)), imageAliases: this.resources.imageAliases };
  }

  async heartbeat(runId: string, agent: string): Promise<{ held: boolean; cancelRequested: boolean }> {
    const held = await this.store.renewLease(runId, agent, this.leaseSeconds);
    const run = await this.store.getRun(runId);
    return { held, cancelRequested: run?.cancelRequested ?? false };
  }

  async progress(runId: string, agent: string, patch: RunProgress): Promise<void> {
    await this.held(runId, agent);
    await this.store.updateRun(runId, patch);
  }

  async appendLog(runId: string, agent: string, text: string): Promise<void> {
    await this.held(runId, agent);
    await this.store.appendLog(runId, text);
  }

  async openContext(runId: string, agent: string): Promise<Readable> {
    const run = await this.held(runId, agent);
    if (!run.spec.contextId) throw new RegistryError('NOT_FOUND', `run ${runId} has no source context`);
    return this.contexts.open(run.spec.contextId);
  }

  async issueLogin(runId: string, agent: string, pushRepositories: string[], purgeRepositories: string[] = []): Promise<{ username: string; password: string } | null> {
    const run = await this.held(runId, agent);
    return this.credentials.issue(runId, pushRepositories, run.timeoutSeconds + 300, purgeRepositories);
  }

  async secret(runId: string, agent: string, name: string): Promise<string> {
    await this.held(runId, agent);
    return this.resources.secret(name);
  }

  async taskLogins(runId: string, agent: string): Promise<RegistryLogin[]> {
    const run = await this.held(runId, agent);
    return run.taskName ? this.resources.taskLogins(run.taskName) : [];
  }

  async finish(runId: string, agent: string, outcome: RunOutcome): Promise<void> {
    const run = await this.held(runId, agent);
    await this.credentials.revoke(runId).catch(() => undefined);
    // A quick run's uploaded context is done with; a task keeps its own for the next run.
    if (run.spec.contextId && run.taskName === null) await this.contexts.delete(run.spec.contextId).catch(() => undefined);
    await this.store.updateRun(runId, { ...outcome, finishedAt: new Date().toISOString() });
    const finished = await this.store.getRun(runId);
    if (finished) this.runs.changed(finished);
  }

  /** The run, if `agent` still holds it; a run whose lease ran out belongs to nobody. */
  private async held(runId: string, agent: string): Promise<RunRecord> {
    const run = await this.store.getRun(runId);
    if (!run) throw new RegistryError('NOT_FOUND', `run "${runId}" not found`);
    if (run.agent !== agent || run.status !== 'Running') throw new RegistryError('DENIED', `run ${runId} is not held by agent ${agent}`);
    return run;
  }
}
