import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Settings } from '../config/settings.js';
import { setUpAccessControl } from '../auth/access-control.js';
import { RegistryEvents } from '../events/registry-events.js';
import { managementApi } from '../management-api/management-api.js';
import { openSqliteDatabase } from '../metadata/sql/sqlite.js';
import { SqlAuthStore } from '../metadata/sql/sql-auth-store.js';
import { SqlMetadataStore } from '../metadata/sql/sql-metadata-store.js';
import type { MetadataStore } from '../metadata/metadata-store.js';
import { RegistryMetrics } from '../observability/metrics.js';
import { BlobService } from '../registry/blob-service.js';
import { ManifestService } from '../registry/manifest-service.js';
import { registryApi } from '../registry-api/registry-api.js';
import { FilesystemBlobStore } from '../storage/filesystem/fs-blob-store.js';
import { berthVersion } from '../version.js';
import { auditRegistryChanges } from '../audit/registry-audit.js';
import { SqlWebhookStore } from '../metadata/sql/sql-webhook-store.js';
import { WebhookDispatcher, defaultDeliveryPolicy } from '../webhooks/delivery.js';
import { WebhookService } from '../webhooks/webhook-service.js';
import { ImportService, type ImportPermissions } from '../import/import-service.js';
import { SqlImportStore } from '../metadata/sql/sql-import-store.js';
import { SqlRunStore } from '../metadata/sql/sql-run-store.js';
import { ContextStore } from '../tasks/context-store.js';
import { RunService } from '../tasks/run-service.js';
import { TaskService } from '../tasks/task-service.js';
import { SqlTaskStore } from '../metadata/sql/sql-task-store.js';
import { RunAgent } from '../tasks/agents/run-agent.js';
import { LocalAgentBackend, type RunCredentialIssuer } from '../tasks/agents/local-agent-backend.js';
import { agentApi } from '../agent-api/agent-api.js';
import { DockerTaskRunner } from '../tasks/docker/docker-runner.js';
import type { AccessManagement } from '../auth/access-management.js';
import { SecretCipher } from '../secrets/secret-cipher.js';
import { SecretStore } from '../secrets/secret-store.js';
import { createHttpApp } from './http-app.js';

export interface BerthServer {
  app: FastifyInstance;
  events: RegistryEvents;
  /** Address actually bound (the port may have been 0). */
  listen(): Promise<{ host: string; port: number }>;
  /** Stops accepting requests, lets in-flight ones finish, then closes the stores. */
  close(): Promise<void>;
}

/** Import jobs act with their requester's current rights (or anyone's, with --auth none). */
function importPermissions(access: Awaited<ReturnType<typeof setUpAccessControl>>): ImportPermissions {
  const http = access.http;
  if (!http) return { canPull: async () => true, canPush: async () => true };
  const allows = async (who: { kind: 'user' | 'token' | 'anonymous'; name: string }, repository: string, action: 'pull' | 'push') => {
    const identity = who.kind === 'anonymous' ? { kind: 'anonymous' as const } : await http.identities.currentIdentity(who.kind, who.name);
    return identity !== null && (await http.authorizer.allows(identity, repository, action));
  };
  return { canPull: (who, repo) => allows(who, repo, 'pull'), canPush: (who, repo) => allows(who, repo, 'push') };
}

/** Each run logs in to this registry with its own token: pull anywhere, push only its targets. */
function runCredentials(management: AccessManagement | null): RunCredentialIssuer {
  const ctx = { actor: 'berth-agent', client: null };
  const name = (runId: string) => `berth-run-${runId}`;
  return {
    async issue(runId, pushRepositories, ttlSeconds) {
      if (!management) return null;
      const rules = [
        { repository: '*', actions: ['content/read' as const] },
        ...[...new Set(pushRepositories)].map((repository) => ({ repository, actions: ['content/read' as const, 'content/write' as const] })),
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

/** The composition root: picks the backends and wires services, APIs and the HTTP shell. */
export async function composeServer(settings: Settings): Promise<BerthServer> {
  await mkdir(settings.dataDir, { recursive: true });
  const blobStore = new FilesystemBlobStore(settings.dataDir);
  await blobStore.init();
  const db = await openSqliteDatabase(join(settings.dataDir, 'metadata.db'));
  const metadata: MetadataStore = new SqlMetadataStore(db);
  const events = new RegistryEvents();
  const metrics = new RegistryMetrics(metadata);
  let closing = false;

  const app = createHttpApp({
    settings,
    metrics,
    isReady: async () => !closing && (await metadata.repositoryExists('readiness-probe'), true),
  });
  const accessControl = await setUpAccessControl(app, new SqlAuthStore(db), settings);
  const blobs = new BlobService(blobStore, metadata, events);
  const manifests = new ManifestService(blobStore, metadata, events);
  await app.register(registryApi, { blobs, manifests, metrics, access: accessControl.registryAccess });
  const webhookStore = new SqlWebhookStore(db);
  const dispatcher = new WebhookDispatcher(webhookStore, app.log, {
    ...defaultDeliveryPolicy,
    initialBackoffMs: settings.webhookRetry.initialBackoffMs,
    maxBackoffMs: settings.webhookRetry.maxBackoffMs,
    giveUpAfterMs: settings.webhookRetry.giveUpAfterHours * 3600_000,
  });
  let boundAddress = `${settings.host}:${settings.port}`;
  const webhooks = new WebhookService(webhookStore, dispatcher, () => boundAddress);
  const logFailure = (what: string) => (error: unknown) => app.log.error({ err: error }, what);
  webhooks.subscribe(events, logFailure('webhook enqueue failed'));
  webhooks.subscribeRuns(events, logFailure('webhook enqueue failed'));
  auditRegistryChanges(events, accessControl.audit, logFailure('audit record failed'));
  const selfHosts = () => [boundAddress, `localhost:${boundAddress.split(':').pop()}`, `127.0.0.1:${boundAddress.split(':').pop()}`];
  const imports = new ImportService(new SqlImportStore(db), blobs, manifests, metadata, importPermissions(accessControl), (host) => selfHosts().includes(host), accessControl.audit, app.log);
  const runStore = new SqlRunStore(db);
  const contexts = new ContextStore(settings.dataDir);
  const runs = new RunService(runStore, contexts, (run) =>
    events.emit('run.changed', { runId: run.id, task: run.taskName, trigger: run.trigger, status: run.status, outputImages: run.outputImages }),
  );
  // The engine runs on this machine, so it reaches the registry on loopback.
  const runRegistryHost = () => {
    const port = boundAddress.split(':').pop();
    return ['0.0.0.0', '::', 'localhost'].includes(settings.host) || settings.host.startsWith('127.') ? `127.0.0.1:${port}` : boundAddress;
  };
  const { cipher, generatedFile } = SecretCipher.fromSettings({ keyText: settings.secretKey, keyFile: settings.secretKeyFile, dataDir: settings.dataDir });
  if (generatedFile) app.log.warn({ file: generatedFile }, 'generated a key for secrets at rest; keep it with (and as safe as) the data, or give BERTH_SECRET_KEY');
  const secrets = new SecretStore(db, cipher);
  const tasks = new TaskService(new SqlTaskStore(db), runs, contexts, secrets);
  const agentBackend = new LocalAgentBackend(runStore, runs, contexts, runCredentials(accessControl.http ? accessControl.management : null), {
    secret: (name) => secrets.reveal(name),
    taskLogins: (name) => tasks.logins(name),
    imageAliases: settings.taskImageAliases,
  }, () => ({ host: runRegistryHost(), scheme: settings.tls ? 'https' : 'http' }), settings.runLeaseSeconds);
  const agent = settings.localAgent ? new RunAgent(agentBackend, new DockerTaskRunner(), app.log, 2, localAgentName(settings.dataDir)) : null;
  await app.register(agentApi, { backend: agentBackend, agentKey: settings.agentKey });
  const housekeeping = setInterval(() => {
    runs.sweep(settings.runLogRetentionDays).then(
      ({ expired, logsDeleted }) => {
        for (const id of expired) app.log.warn({ run: id }, 'run lost its agent; marked Error');
        if (logsDeleted > 0) app.log.info({ runs: logsDeleted }, 'deleted expired run logs');
      },
      logFailure('run housekeeping failed'),
    );
  }, 2000);
  housekeeping.unref();
  await app.register(managementApi, {
    access: accessControl.management,
    audit: accessControl.audit,
    auth: accessControl.http,
    webhooks,
    imports,
    runs,
    tasks,
    secrets,
    version: berthVersion,
  });

  return {
    app,
    events,
    async listen() {
      await app.listen({ host: settings.host, port: settings.port });
      dispatcher.start();
      await imports.resume();
      await agent?.start();
      const address = app.server.address();
      const port = typeof address === 'object' && address ? address.port : settings.port;
      boundAddress = `${settings.host}:${port}`;
      return { host: settings.host, port };
    },
    async close() {
      closing = true;
      await app.close();
      await dispatcher.stop();
      await imports.stop();
      clearInterval(housekeeping);
      await agent?.stop();
      await accessControl.audit.flush();
      await metadata.close();
    },
  };
}
