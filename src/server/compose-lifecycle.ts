import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { FastifyBaseLogger } from 'fastify';
import type { Kysely } from 'kysely';
import type { Registry } from 'prom-client';
import type { WorkHandler } from '../background/background-worker.js';
import type { Settings } from '../config/settings.js';
import type { RegistryEvents } from '../events/registry-events.js';
import { GarbageCollector, gcHandler } from '../lifecycle/garbage-collector.js';
import { gcMetrics } from '../lifecycle/gc-metrics.js';
import { repositoryMatcher } from '../lifecycle/purge-options.js';
import { PurgeService } from '../lifecycle/purge-service.js';
import { policyHandler, PolicyService } from '../lifecycle/policy-service.js';
import type { AuditLog } from '../audit/audit-log.js';
import { SqlPolicyStore } from '../metadata/sql/sql-policy-store.js';
import { retentionHandler } from '../lifecycle/retention.js';
import { SoftDeleteService, softDeleteExpiryHandler } from '../lifecycle/soft-delete.js';
import type { MetadataStore } from '../metadata/metadata-store.js';
import type { Database } from '../metadata/sql/schema.js';
import { SqlLifecycleStore } from '../metadata/sql/sql-lifecycle-store.js';
import { SqlSoftDeleteStore } from '../metadata/sql/sql-soft-delete-store.js';
import type { ManifestService } from '../registry/manifest-service.js';
import type { BlobStore } from '../storage/blob-store.js';

/** Purge, retention, soft delete, lifecycle policies and garbage collection (the lifecycle part of the composition root). */
export function composeLifecycle(options: {
  settings: Settings;
  db: Kysely<Database>;
  metadata: MetadataStore;
  blobStore: BlobStore;
  manifests: ManifestService;
  events: RegistryEvents;
  registry: Registry;
  audit: AuditLog;
  log: FastifyBaseLogger;
}) {
  const { settings, log } = options;
  const store = new SqlLifecycleStore(options.db);
  const purge = new PurgeService(store, options.manifests);
  const owner = `${hostname().split('.')[0]}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const collector = new GarbageCollector(store, options.metadata, options.blobStore, settings.gc, owner, gcMetrics(options.registry, store));
  const softDelete = new SoftDeleteService(new SqlSoftDeleteStore(options.db), options.events, settings.softDelete.daySeconds * 1000);
  const policies = new PolicyService(new SqlPolicyStore(options.db), store, purge, options.audit, log);
  const handlers: WorkHandler[] = [
    retentionHandler(store, purge, log),
    softDeleteExpiryHandler(softDelete, log),
    policyHandler(policies, settings.lifecycle.policyIntervalSeconds),
    gcHandler(collector, settings.gc, log),
  ];
  /** The repositories that purge filters' repository regexes select now (a run token's delete rights). */
  const repositoriesMatching = async (regexes: string[]): Promise<string[]> => {
    if (regexes.length === 0) return [];
    const matchers = regexes.flatMap((r) => {
      try {
        return [repositoryMatcher(r)];
      } catch {
        return [];
      }
    });
    return (await store.repositories()).filter((name) => matchers.some((m) => m.test(name)));
  };
  return { store, purge, policies, collector, softDelete, handlers, repositoriesMatching };
}
