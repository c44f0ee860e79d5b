import { Migrator, sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import type { SqlDialectName } from './schema.js';
import { repositoryMetadata } from './migration-0012-repository-metadata.js';

/**
 * Versioned schema migrations, in code so they ship with the build. Never edit a released
 * migration: add the next one. Names sort lexically, which is the order Kysely applies them in.
 */
function registryCore(dialect: SqlDialectName): Migration {
  const binary = dialect === 'postgres' ? 'bytea' : 'blob';
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema
        .createTable('repositories')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('blobs')
        .addColumn('digest', 'text', (c) => c.primaryKey())
        .addColumn('size', 'bigint', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('repository_blobs')
        .addColumn('repository', 'text', (c) => c.notNull())
        .addColumn('digest', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('repository_blobs_pk', ['repository', 'digest'])
        .execute();
      await db.schema.createIndex('repository_blobs_digest').on('repository_blobs').column('digest').execute();
      await db.schema
        .createTable('manifests')
        .addColumn('repository', 'text', (c) => c.notNull())
        .addColumn('digest', 'text', (c) => c.notNull())
        .addColumn('media_type', 'text', (c) => c.notNull())
        .addColumn('size', 'bigint', (c) => c.notNull())
        .addColumn('content', binary, (c) => c.notNull())
        .addColumn('artifact_type', 'text')
        .addColumn('config_media_type', 'text')
        .addColumn('config_digest', 'text')
        .addColumn('subject_digest', 'text')
        .addColumn('annotations', 'text')
        .addColumn('platform_os', 'text')
        .addColumn('platform_architecture', 'text')
        .addColumn('platform_variant', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('manifests_pk', ['repository', 'digest'])
        .execute();
      await db.schema
        .createIndex('manifests_subject')
        .on('manifests')
        .columns(['repository', 'subject_digest'])
        .execute();
      await db.schema
        .createTable('manifest_references')
        .addColumn('repository', 'text', (c) => c.notNull())
        .addColumn('parent_digest', 'text', (c) => c.notNull())
        .addColumn('child_digest', 'text', (c) => c.notNull())
        .addColumn('child_kind', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('manifest_references_pk', ['repository', 'parent_digest', 'child_digest'])
        .execute();
      await db.schema
        .createIndex('manifest_references_child')
        .on('manifest_references')
        .columns(['repository', 'child_digest'])
        .execute();
      await db.schema
        .createTable('tags')
        .addColumn('repository', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('digest', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('tags_pk', ['repository', 'name'])
        .execute();
      await db.schema.createIndex('tags_digest').on('tags').columns(['repository', 'digest']).execute();
      await db.schema
        .createTable('uploads')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('repository', 'text', (c) => c.notNull())
        .addColumn('size', 'bigint', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
    },
  };
}

function accessControl(dialect: SqlDialectName): Migration {
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema
        .createTable('users')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('password_hash', 'text', (c) => c.notNull())
        .addColumn('roles', 'text', (c) => c.notNull())
        .addColumn('enabled', 'integer', (c) => c.notNull())
        .addColumn('password_changed_at', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('tokens')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('scope_map', 'text', (c) => c.notNull())
        .addColumn('enabled', 'integer', (c) => c.notNull())
        .addColumn('expires_at', 'text')
        .addColumn('password1', 'text')
        .addColumn('password2', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('scope_maps')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('description', 'text', (c) => c.notNull())
        .addColumn('rules', 'text', (c) => c.notNull())
        .addColumn('system', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('signing_keys')
        .addColumn('kid', 'text', (c) => c.primaryKey())
        .addColumn('private_jwk', 'text', (c) => c.notNull())
        .addColumn('public_jwk', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('retired_at', 'text')
        .execute();
      await db.schema
        .createTable('settings')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('audit_events')
        .addColumn('id', dialect === 'postgres' ? 'bigserial' : 'integer', (c) => (dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement()))
        .addColumn('at', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('actor', 'text', (c) => c.notNull())
        .addColumn('client', 'text')
        .addColumn('target', 'text')
        .addColumn('detail', 'text')
        .execute();
      await db.schema.createIndex('audit_events_at').on('audit_events').column('at').execute();
    },
  };
}

function webhooks(dialect: SqlDialectName): Migration {
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema
        .createTable('webhooks')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('service_uri', 'text', (c) => c.notNull())
        .addColumn('custom_headers', 'text', (c) => c.notNull())
        .addColumn('actions', 'text', (c) => c.notNull())
        .addColumn('scope', 'text', (c) => c.notNull())
        .addColumn('enabled', 'integer', (c) => c.notNull())
        .addColumn('format', 'text', (c) => c.notNull())
        .addColumn('signing_secret', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('webhook_deliveries')
        .addColumn('id', dialect === 'postgres' ? 'bigserial' : 'integer', (c) => (dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement()))
        .addColumn('webhook', 'text', (c) => c.notNull())
        .addColumn('event_id', 'text', (c) => c.notNull())
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('request_uri', 'text', (c) => c.notNull())
        .addColumn('request_headers', 'text', (c) => c.notNull())
        .addColumn('request_body', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('next_attempt_at', 'text', (c) => c.notNull())
        .addColumn('last_attempt_at', 'text')
        .addColumn('response_status', 'integer')
        .addColumn('response_reason', 'text')
        .addColumn('response_headers', 'text')
        .addColumn('response_body', 'text')
        .addColumn('error', 'text')
        .execute();
      await db.schema.createIndex('webhook_deliveries_pending').on('webhook_deliveries').columns(['status', 'webhook', 'id']).execute();
      await db.schema.createIndex('webhook_deliveries_webhook').on('webhook_deliveries').columns(['webhook', 'id']).execute();
    },
  };
}

function imports(): Migration {
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema
        .createTable('imports')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('job', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('imports_status').on('imports').column('status').execute();
    },
  };
}

function runs(dialect: SqlDialectName): Migration {
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema
        .createTable('runs')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('seq', 'integer', (c) => c.notNull().unique())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('task_name', 'text')
        .addColumn('agent', 'text')
        .addColumn('lease_until', 'text')
        .addColumn('cancel_requested', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('record', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('runs_status').on('runs').columns(['status', 'seq']).execute();
      await db.schema
        .createTable('run_logs')
        .addColumn('seq', dialect === 'postgres' ? 'bigserial' : 'integer', (c) => (dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement()))
        .addColumn('run_id', 'text', (c) => c.notNull())
        .addColumn('text', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('run_logs_run').on('run_logs').columns(['run_id', 'seq']).execute();
    },
  };
}

function tasks(): Migration {
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema
        .createTable('tasks')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('record', 'text', (c) => c.notNull())
        .execute();
    },
  };
}

function secrets(): Migration {
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema
        .createTable('secrets')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('sealed', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
    },
  };
}

/** Runs name the platform they need, so agents claim only what they can execute. */
function runPlatforms(): Migration {
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema.alterTable('runs').addColumn('platform', 'text', (c) => c.notNull().defaultTo('linux/amd64')).execute();
    },
  };
}

/** A queued run's secret values (sealed), kept until its agent takes them, so they survive a restart. */
function runSecrets(): Migration {
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema
        .createTable('run_secrets')
        .addColumn('run_id', 'text', (c) => c.primaryKey())
        .addColumn('sealed', 'text', (c) => c.notNull())
        .execute();
    },
  };
}

/**
 * The registry's event journal: every manifest and tag change writes its event in the same
 * transaction, and consumers (webhooks, audit, later triggers) read it from their cursor.
 */
function eventJournal(dialect: SqlDialectName): Migration {
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema
        .createTable('registry_events')
        .addColumn('seq', dialect === 'postgres' ? 'bigserial' : 'integer', (c) => (dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement()))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('payload', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('event_cursors')
        .addColumn('consumer', 'text', (c) => c.primaryKey())
        .addColumn('seq', 'bigint', (c) => c.notNull())
        .execute();
    },
  };
}

/**
 * Background work's one home (work_items: one-shot and recurring items, claimed with leases),
 * and what triggers need: the base images tasks depend on (indexed by image, so a push finds its
 * dependents without scanning tasks), the source events received, and a unique trigger key on
 * runs (a timer occurrence or a pushed commit queues at most one run, whoever tries).
 */
function backgroundWorkAndTriggers(dialect: SqlDialectName): Migration {
  const serial = (c: any) => (dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement());
  const serialType = dialect === 'postgres' ? 'bigserial' : 'integer';
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema
        .createTable('work_items')
        .addColumn('id', serialType, serial)
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('key', 'text', (c) => c.notNull())
        .addColumn('recurring', 'integer', (c) => c.notNull())
        .addColumn('payload', 'text', (c) => c.notNull())
        .addColumn('run_at', 'text', (c) => c.notNull())
        .addColumn('lease_owner', 'text')
        .addColumn('lease_until', 'text')
        .addColumn('attempts', 'integer', (c) => c.notNull())
        .addColumn('last_error', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addUniqueConstraint('work_items_kind_key', ['kind', 'key'])
        .execute();
      await db.schema.createIndex('work_items_due').on('work_items').columns(['run_at']).execute();
      await db.schema
        .createTable('task_base_images')
        .addColumn('task', 'text', (c) => c.notNull())
        .addColumn('registry', 'text', (c) => c.notNull())
        .addColumn('repository', 'text', (c) => c.notNull())
        .addColumn('tag', 'text', (c) => c.notNull())
        .addColumn('dependency', 'text', (c) => c.notNull())
        .addColumn('digest', 'text')
        .addColumn('tag_policy', 'text')
        .addColumn('checked_at', 'text')
        .addColumn('error', 'text')
        .addPrimaryKeyConstraint('task_base_images_pk', ['task', 'registry', 'repository', 'tag'])
        .execute();
      await db.schema.createIndex('task_base_images_image').on('task_base_images').columns(['registry', 'repository', 'tag']).execute();
      await db.schema
        .createTable('source_events')
        .addColumn('id', serialType, serial)
        .addColumn('task', 'text', (c) => c.notNull())
        .addColumn('received_at', 'text', (c) => c.notNull())
        .addColumn('provider', 'text', (c) => c.notNull())
        .addColumn('delivery_id', 'text')
        .addColumn('repository_url', 'text')
        .addColumn('ref', 'text')
        .addColumn('commit_sha', 'text')
        .addColumn('verdict', 'text', (c) => c.notNull())
        .addColumn('run_id', 'text')
        .addColumn('detail', 'text')
        .execute();
      await db.schema.createIndex('source_events_task').on('source_events').columns(['task', 'id']).execute();
      await db.schema.alterTable('runs').addColumn('trigger_key', 'text').execute();
      await db.schema.createIndex('runs_trigger_key').unique().on('runs').column('trigger_key').execute();
    },
  };
}

/**
 * Lifecycle: when a manifest lost its last tag (retention counts from then), the garbage
 * collector's review queue of blobs (one row per digest: queued by deletes, unlinks and uploads,
 * postponed by every touch) and the record of its runs.
 */
function lifecycle(dialect: SqlDialectName): Migration {
  const serialType = dialect === 'postgres' ? 'bigserial' : 'integer';
  const serial = (c: any) => (dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement());
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema.alterTable('manifests').addColumn('untagged_at', 'text').execute();
      // Manifests untagged before this migration count from their last update.
      await db.updateTable('manifests').set({ untagged_at: sql`updated_at` }).where(({ not, exists, selectFrom }) =>
        not(exists(selectFrom('tags').select('tags.name').whereRef('tags.repository', '=', 'manifests.repository').whereRef('tags.digest', '=', 'manifests.digest'))),
      ).execute();
      await db.schema.createIndex('manifests_untagged').on('manifests').columns(['untagged_at']).execute();
      await db.schema
        .createTable('gc_blob_reviews')
        .addColumn('digest', 'text', (c) => c.primaryKey())
        .addColumn('due_from', 'text', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('claimed_by', 'text')
        .addColumn('claimed_until', 'text')
        .execute();
      await db.schema.createIndex('gc_blob_reviews_due').on('gc_blob_reviews').columns(['due_from']).execute();
      await db.schema
        .createTable('gc_runs')
        .addColumn('id', serialType, serial)
        .addColumn('started_at', 'text', (c) => c.notNull())
        .addColumn('finished_at', 'text', (c) => c.notNull())
        .addColumn('trigger', 'text', (c) => c.notNull())
        .addColumn('dry_run', 'integer', (c) => c.notNull())
        .addColumn('candidates', 'integer', (c) => c.notNull())
        .addColumn('blobs_deleted', 'integer', (c) => c.notNull())
        .addColumn('bytes_freed', 'bigint', (c) => c.notNull())
        .addColumn('uploads_deleted', 'integer', (c) => c.notNull())
        .addColumn('duration_ms', 'integer', (c) => c.notNull())
        .execute();
    },
  };
}

/**
 * Soft delete's archive: what a delete took while soft delete was on (the manifest with its
 * bytes, its references, the tags it had), restorable until `deleted_at` + the policy's days.
 * The archive's references keep blobs from the collector (see sql-lifecycle-store).
 */
function softDelete(dialect: SqlDialectName): Migration {
  const binary = dialect === 'postgres' ? 'bytea' : 'blob';
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema
        .createTable('deleted_manifests')
        .addColumn('repository', 'text', (c) => c.notNull())
        .addColumn('digest', 'text', (c) => c.notNull())
        .addColumn('media_type', 'text', (c) => c.notNull())
        .addColumn('size', 'bigint', (c) => c.notNull())
        .addColumn('content', binary, (c) => c.notNull())
        .addColumn('artifact_type', 'text')
        .addColumn('config_media_type', 'text')
        .addColumn('config_digest', 'text')
        .addColumn('subject_digest', 'text')
        .addColumn('annotations', 'text')
        .addColumn('platform_os', 'text')
        .addColumn('platform_architecture', 'text')
        .addColumn('platform_variant', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addColumn('deleted_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('deleted_manifests_pk', ['repository', 'digest'])
        .execute();
      await db.schema.createIndex('deleted_manifests_deleted_at').on('deleted_manifests').columns(['deleted_at']).execute();
      await db.schema
        .createTable('deleted_manifest_references')
        .addColumn('repository', 'text', (c) => c.notNull())
        .addColumn('parent_digest', 'text', (c) => c.notNull())
        .addColumn('child_digest', 'text', (c) => c.notNull())
        .addColumn('child_kind', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('deleted_manifest_references_pk', ['repository', 'parent_digest', 'child_digest'])
        .execute();
      await db.schema.createIndex('deleted_manifest_references_child').on('deleted_manifest_references').columns(['child_digest']).execute();
      await db.schema
        .createTable('deleted_tags')
        .addColumn('repository', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('digest', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addColumn('deleted_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('deleted_tags_pk', ['repository', 'name', 'digest'])
        .execute();
      await db.schema.createIndex('deleted_tags_deleted_at').on('deleted_tags').columns(['deleted_at']).execute();
    },
  };
}

/** Lifecycle policies: one row per policy, its rules as JSON (validated by lifecycle/policy.ts). */
function lifecyclePolicies(): Migration {
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema
        .createTable('lifecycle_policies')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('repository', 'text', (c) => c.notNull())
        .addColumn('rules', 'text', (c) => c.notNull())
        .addColumn('enabled', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
    },
  };
}

class InCodeMigrations implements MigrationProvider {
  constructor(private readonly dialect: SqlDialectName) {}
  async getMigrations(): Promise<Record<string, Migration>> {
    return {
      '0001_registry_core': registryCore(this.dialect),
      '0002_access_control': accessControl(this.dialect),
      '0003_webhooks': webhooks(this.dialect),
      '0004_imports': imports(),
      '0005_runs': runs(this.dialect),
      '0006_tasks': tasks(),
      '0007_secrets': secrets(),
      '0008_run_platforms': runPlatforms(),
      '0009_run_secrets': runSecrets(),
      '0010_event_journal': eventJournal(this.dialect),
      '0011_background_work_and_triggers': backgroundWorkAndTriggers(this.dialect),
      '0012_repository_metadata': repositoryMetadata(),
      '0013_lifecycle': lifecycle(this.dialect),
      '0014_lifecycle_policies': lifecyclePolicies(),
      '0015_soft_delete': softDelete(this.dialect),
    };
  }
}

export async function migrateToLatest(db: Kysely<any>, dialect: SqlDialectName): Promise<void> {
  const migrator = new Migrator({ db, provider: new InCodeMigrations(dialect) });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error || failed) {
    throw new Error(`database migration failed${failed ? ` at ${failed.migrationName}` : ''}: ${String(error)}`);
  }
}
