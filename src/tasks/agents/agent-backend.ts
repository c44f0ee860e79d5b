import type { Readable } from 'node:stream';
import type { RunRecord } from '../run-store.js';
import type { RegistryLogin } from '../task-runner.js';

/** A run as an agent receives it, with what it needs that never goes into the run record. */
export interface ClaimedRun {
  run: RunRecord;
  /** `--set-secret` and `--secret-build-arg` values, handed over once. */
  secrets: Record<string, string>;
  /** For a private git context (`--git-access-token`), handed over once like the secrets. */
  gitAccessToken: string | null;
  /** cmd image aliases (`bash`, `curl`, ...) configured on the server. */
  imageAliases: Record<string, string>;
}

export type RunProgress = Partial<Pick<RunRecord, 'startedAt' | 'steps' | 'outputImages'>>;
export type RunOutcome = Pick<RunRecord, 'status' | 'error' | 'outputImages' | 'baseImages' | 'steps'>;

/**
 * Everything an agent asks of the server, in one seam: the in-process agent calls the stores
 * directly, a remote agent (`berth agent --server URL`) calls the same operations over HTTP.
 * Every call after `claim` names the agent, and is refused unless that agent still holds the run.
 */
export interface AgentBackend {
  /** The registry as this agent's engine reaches it, with its scheme. */
  registry(): { host: string; scheme: 'http' | 'https' };
  /**
   * Said once when an agent starts: runs still held under its name belonged to its previous
   * life (it was killed) and end as Error now instead of when their lease runs out.
   */
  started(agent: string): Promise<string[]>;
  /** Atomically takes the oldest queued run for one of `platforms` (never the same run for two agents). */
  claim(agent: string, platforms: string[]): Promise<ClaimedRun | null>;
  /** Renews the lease; `held` is false once the run is no longer this agent's. */
  heartbeat(runId: string, agent: string): Promise<{ held: boolean; cancelRequested: boolean }>;
  progress(runId: string, agent: string, patch: RunProgress): Promise<void>;
  appendLog(runId: string, agent: string, text: string): Promise<void>;
  openContext(runId: string, agent: string): Promise<Readable>;
  /** A short-lived registry login for the run: pull anywhere, push to `pushRepositories`. */
  /** `purgeRepositories`: the repository regexes of the run's purge steps (delete rights there). */
  issueLogin(runId: string, agent: string, pushRepositories: string[], purgeRepositories?: string[]): Promise<{ username: string; password: string } | null>;
  /** A value from the secret store that the run's task file names. */
  secret(runId: string, agent: string, name: string): Promise<string>;
  /** The run's task credentials for other registries. */
  taskLogins(runId: string, agent: string): Promise<RegistryLogin[]>;
  /** Records the final state, revokes the run's login and tells subscribers (webhooks). */
  finish(runId: string, agent: string, outcome: RunOutcome): Promise<void>;
}
