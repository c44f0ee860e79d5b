import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import type { FastifyBaseLogger } from 'fastify';
import type { Kysely } from 'kysely';
import type { Settings } from '../config/settings.js';
import type { AccessManagement } from '../auth/access-management.js';
import type { setUpAccessControl } from '../auth/access-control.js';
import type { RegistryEvents } from '../events/registry-events.js';
import type { Database } from '../metadata/sql/schema.js';
import { SqlRunStore } from '../metadata/sql/sql-run-store.js';
import { SqlTaskStore } from '../metadata/sql/sql-task-store.js';
import { SecretCipher } from '../secrets/secret-cipher.js';
import { SecretStore } from '../secrets/secret-store.js';
import { ContextStore } from '../tasks/context-store.js';
import { RunService } from '../tasks/run-service.js';
import { TaskService } from '../tasks/task-service.js';
import { RunAgent } from '../tasks/agents/run-agent.js';
import { LocalAgentBackend, type RunCredentialIssuer } from '../tasks/agents/local-agent-backend.js';
import { DockerTaskRunner } from '../tasks/docker/docker-runner.js';
import type { EgressPolicy } from '../network/egress.js';
import type { WorkHandler } from '../background/background-worker.js';

export const housekeepingKind = 'run-housekeeping';

/**
 * Each run logs in to this registry with its own token: pull anywhere, push only its targets,
 * delete only in the repositories its own purge steps' filters select when the run starts (a
 * task is defined by an Owner, so this never exceeds what its author may do; see
 * docs/ARCHITECTURE.md, Purge).
 */
function runCredentials(management: AccessManagement | null, purgeRepositories: (regexes: string[]) => Promise<string[]>): RunCredentialIssuer {
  const ctx = { actor: 'berth-agent', client: null };
  const name = (runId: string) => `berth-run-${runId}`;
  return {
    async issue(runId, pushRepositories, ttlSeconds, purgeRegexes) {
      if (!management) return null;
      const rules = [
        { repository: '*', actions: ['content/read' as const] },
        ...[...new Set(pushRepositories)].map((repository) => ({ repository, actions: ['content/read' as const, 'content/write' as const] })),
        ...(await purgeRepositories(purgeRegexes)).map((repository) => ({ repository, actions: ['content/read' as const, 'content/delete' as const, 'metadata/read' as const] })),
      ];
      const token = await management.createToken(ctx, { name: name(runId), rules, expiresAt: new Date(Date.now() + ttlSeconds * 1000).toISOString() });
      return { username: token.name, password: token.credentials.passwords[0]!.value! };
    },
    async revoke(runId) {
      await management?.deleteToken(ctx, name(runId));
    },
  };
}

/** Stable across restarts (so a restarted server clears what its killed agent left) and distinct per data dir. */
function localAgentName(dataDir: string): string {
  return `local-${hostname().split('.')[0]}-${createHash('sha256').update(dataDir).digest('hex').slice(0, 8)}`;
}

export interface TaskComponents {
  runs: RunService;
  tasks: TaskService;
  secrets: SecretStore;
  /** The in-process agent, unless settings turn it off. */
  agent: RunAgent | null;
  /** The server side of the agent seam (also served to remote agents over HTTP). */
  agentBackend: LocalAgentBackend;
  /** Lease expiry and log retention, whichever agents run: recurring background work. */
  housekeeping: WorkHandler;
  taskStore: SqlTaskStore;
  runStore: SqlRunStore;
}

/** Wires runs, tasks, secrets and the agents (the tasks half of the composition root). */
export function composeTasks(options: {
  settings: Settings;
  db: Kysely<Database>;
  events: RegistryEvents;
  accessControl: Awaited<ReturnType<typeof setUpAccessControl>>;
  log: FastifyBaseLogger;
  runRegistryHost: () => string;
  egress: EgressPolicy;
  purgeRepositories: (regexes: string[]) => Promise<string[]>;
}): TaskComponents {
  const { settings, db, events, accessControl, log } = options;
  const { cipher, generatedFile } = SecretCipher.fromSettings({ keyText: settings.secretKey, keyFile: settings.secretKeyFile, dataDir: settings.dataDir });
  if (generatedFile) log.warn({ file: generatedFile }, 'generated a key for secrets at rest; keep it with (and as safe as) the data, or give BERTH_SECRET_KEY');
  const runStore = new SqlRunStore(db);
  const contexts = new ContextStore(settings.dataDir);
  const runs = new RunService(runStore, contexts, cipher, (run) =>
    events.emit('run.changed', { runId: run.id, task: run.taskName, trigger: run.trigger, status: run.status, outputImages: run.outputImages }),
  );
  const secrets = new SecretStore(db, cipher);
  const taskStore = new SqlTaskStore(db);
  const tasks = new TaskService(taskStore, runs, contexts, secrets);
  const agentBackend = new LocalAgentBackend(
    runStore,
    runs,
    contexts,
    runCredentials(accessControl.http ? accessControl.management : null, options.purgeRepositories),
    { secret: (name) => secrets.reveal(name), taskLogins: (name) => tasks.logins(name), imageAliases: settings.taskImageAliases },
    () => ({ host: options.runRegistryHost(), scheme: settings.tls ? 'https' : 'http' }),
    settings.runLeaseSeconds,
  );
  const agent = settings.localAgent ? new RunAgent(agentBackend, new DockerTaskRunner(), log, 2, localAgentName(settings.dataDir), [], options.egress) : null;
  const housekeeping: WorkHandler = {
    kind: housekeepingKind,
    leaseSeconds: 60,
    async handle() {
      const { expired, logsDeleted } = await runs.sweep(settings.runLogRetentionDays);
      for (const id of expired) log.warn({ run: id }, 'run lost its agent; marked Error');
      if (logsDeleted > 0) log.info({ runs: logsDeleted }, 'deleted expired run logs');
      // Often enough that a dead agent's run shows Error within seconds of its lease.
      return { runAt: new Date(Date.now() + 2000) };
    },
  };
  return { runs, tasks, secrets, agent, agentBackend, housekeeping, taskStore, runStore };
}
