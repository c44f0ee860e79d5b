import { mkdir } from 'node:fs/promises';
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
import { WebhookOutbox, defaultDeliveryPolicy, webhookOutboxKind } from '../webhooks/delivery.js';
import { WebhookService } from '../webhooks/webhook-service.js';
import { ImportService, type ImportPermissions } from '../import/import-service.js';
import { SqlImportStore } from '../metadata/sql/sql-import-store.js';
import { agentApi } from '../agent-api/agent-api.js';
import { composeTasks } from './compose-tasks.js';
import { composeBackground } from './compose-background.js';
import { taskDefinitionBases } from '../triggers/task-definition-bases.js';
import { createHttpApp } from './http-app.js';
import type { BodyIdlePolicy } from '../streams/request-body.js';
import { EgressPolicy } from '../network/egress.js';
import { composeLifecycle } from './compose-lifecycle.js';
import { policyKind } from '../lifecycle/policy-service.js';
import { SqlRepositoryMetadataStore } from '../metadata/sql/sql-repository-metadata-store.js';
import { PullStatistics, defaultPullStatisticsOptions } from '../registry/pull-statistics.js';
import { RepositoryService } from '../registry/repository-service.js';
import { dataApi } from '../data-api/data-api.js';
import { registerStorageMetrics } from '../observability/storage-metrics.js';

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
  if (!http) return { canPull: async () => true, canPush: async () => true, seesAllJobs: async () => true };
  const current = (who: { kind: 'user' | 'token' | 'anonymous'; name: string }) =>
    who.kind === 'anonymous' ? Promise.resolve({ kind: 'anonymous' as const }) : http.identities.currentIdentity(who.kind, who.name);
  const allows = async (who: { kind: 'user' | 'token' | 'anonymous'; name: string }, repository: string, action: 'pull' | 'push') => {
    const identity = await current(who);
    return identity !== null && (await http.authorizer.allows(identity, repository, action));
  };
  return {
    canPull: (who, repo) => allows(who, repo, 'pull'),
    canPush: (who, repo) => allows(who, repo, 'push'),
    seesAllJobs: async (who) => {
      const identity = await current(who);
      return identity !== null && http.identities.isOwner(identity);
    },
  };
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
  const bodyIdle: BodyIdlePolicy = {
    idleMs: settings.http.bodyIdleSeconds * 1000,
    onIdle: (request) => app.log.warn({ method: request.method, url: request.url }, 'request body idle: connection closed'),
  };
  const blobs = new BlobService(blobStore, metadata, events);
  const manifests = new ManifestService(blobStore, metadata, events);
  const repositoryMetadata = new SqlRepositoryMetadataStore(db);
  const pulls = new PullStatistics(repositoryMetadata, { ...defaultPullStatisticsOptions, onError: (error) => app.log.error({ err: error }, 'pull statistics not stored') });
  registerStorageMetrics(metrics, repositoryMetadata);
  await app.register(registryApi, { blobs, manifests, metrics, access: accessControl.registryAccess, bodyIdle, pulls });
  await app.register(dataApi, { repositories: new RepositoryService(repositoryMetadata, manifests), manifests, access: accessControl.registryAccess });
  // Every request made on a user's behalf (import, webhooks, task sources) goes through it.
  const egress = new EgressPolicy(settings.egress);
  const webhookStore = new SqlWebhookStore(db);
  const outbox = new WebhookOutbox(webhookStore, egress, app.log, {
    ...defaultDeliveryPolicy,
    initialBackoffMs: settings.webhookRetry.initialBackoffMs,
    maxBackoffMs: settings.webhookRetry.maxBackoffMs,
    giveUpAfterMs: settings.webhookRetry.giveUpAfterHours * 3600_000,
  });
  let boundAddress = `${settings.host}:${settings.port}`;
  const logFailure = (what: string) => (error: unknown) => app.log.error({ err: error }, what);
  // Deliveries are enqueued by the journal consumer, which starts with the background work, so
  // `background` (composed below) exists whenever this is called.
  const wakeOutbox = () => void background.wake(webhookOutboxKind).catch(logFailure('waking the webhook outbox failed'));
  const webhooks = new WebhookService(webhookStore, wakeOutbox, egress, () => boundAddress);
  webhooks.subscribe(events);
  webhooks.subscribeRuns(events, logFailure('webhook enqueue failed'));
  auditRegistryChanges(events, accessControl.audit, logFailure('audit record failed'));
  const selfHosts = () => [boundAddress, `localhost:${boundAddress.split(':').pop()}`, `127.0.0.1:${boundAddress.split(':').pop()}`];
  const imports = new ImportService(new SqlImportStore(db), blobs, manifests, metadata, importPermissions(accessControl), (host) => selfHosts().includes(host), accessControl.audit, app.log, egress);
  // The engine runs on this machine, so it reaches the registry on loopback.
  const runRegistryHost = () => {
    const port = boundAddress.split(':').pop();
    return ['0.0.0.0', '::', 'localhost'].includes(settings.host) || settings.host.startsWith('127.') ? `127.0.0.1:${port}` : boundAddress;
  };
  const lifecycle = composeLifecycle({ settings, db, metadata, blobStore, manifests, events, registry: metrics.registry, audit: accessControl.audit, log: app.log });
  const { runs, tasks, secrets, agent, agentBackend, housekeeping, taskStore, runStore } = composeTasks({
    settings,
    db,
    events,
    accessControl,
    log: app.log,
    runRegistryHost,
    egress,
    purgeRepositories: lifecycle.repositoriesMatching,
  });
  const localRegistries = () => [...new Set([...selfHosts(), runRegistryHost(), ...(settings.publicUrl ? [settings.publicUrl.host] : [])])];
  const background = await composeBackground({
    settings,
    db,
    metadata,
    events,
    tasks,
    taskStore,
    runStore,
    egress,
    log: app.log,
    localRegistries,
    resolveTaskBases: taskDefinitionBases({
      contexts: runs.contexts,
      egress,
      registryHost: runRegistryHost,
      gitToken: (name) => tasks.gitAccessToken(name),
      log: (message, details) => app.log.warn(details, message),
    }),
    handlers: [housekeeping, outbox, ...lifecycle.handlers],
  });
  lifecycle.policies.readNextEvaluationFrom(async () => (await background.queue.get(policyKind, policyKind))?.runAt ?? null);
  await app.register(agentApi, { backend: agentBackend, agentKey: settings.agentKey });
  await app.register(managementApi, {
    access: accessControl.management,
    audit: accessControl.audit,
    auth: accessControl.http,
    webhooks,
    imports,
    runs,
    tasks,
    secrets,
    triggers: { bases: background.bases, sourceEvents: background.sourceEvents, commits: background.commits },
    manifests,
    lifecycle: { purge: lifecycle.purge, store: lifecycle.store, collector: lifecycle.collector },
    softDelete: lifecycle.softDelete,
    policies: lifecycle.policies,
    version: berthVersion,
    bodyIdle,
  });

  return {
    app,
    events,
    async listen() {
      await app.listen({ host: settings.host, port: settings.port });
      await imports.resume();
      const address = app.server.address();
      const port = typeof address === 'object' && address ? address.port : settings.port;
      boundAddress = `${settings.host}:${port}`;
      // After the address is known: triggers match pushes against the names it gives.
      await background.start();
      // After the address is known: runs render it ({{.Run.Registry}}) and push to it.
      await agent?.start();
      return { host: settings.host, port };
    },
    async close() {
      closing = true;
      // In-flight requests may finish, for a while: a client that never does must not keep
      // the server from stopping (and a stalled body would hold it for ever).
      const drainDeadline = setTimeout(() => {
        app.log.warn({ seconds: settings.http.shutdownDrainSeconds }, 'shutdown drain time over: closing remaining connections');
        app.server.closeAllConnections();
      }, settings.http.shutdownDrainSeconds * 1000);
      drainDeadline.unref();
      try {
        await app.close();
      } finally {
        clearTimeout(drainDeadline);
      }
      await background.stop();
      await imports.stop();
      await agent?.stop();
      await egress.close();
      await accessControl.audit.flush();
      await pulls.close();
      await metadata.close();
    },
  };
}
