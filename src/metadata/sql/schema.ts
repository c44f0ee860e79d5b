import type { Generated } from 'kysely';

/** Table shapes as Kysely sees them. Times are ISO-8601 UTC strings (sortable, portable). */
export interface RepositoriesTable {
  name: string;
  created_at: string;
  updated_at: string;
  delete_enabled: Generated<number>;
  write_enabled: Generated<number>;
  read_enabled: Generated<number>;
  list_enabled: Generated<number>;
}

export interface BlobsTable {
  digest: string;
  size: number;
  created_at: string;
}

export interface RepositoryBlobsTable {
  repository: string;
  digest: string;
  created_at: string;
}

export interface ManifestsTable {
  repository: string;
  digest: string;
  media_type: string;
  size: number;
  content: Uint8Array;
  artifact_type: string | null;
  config_media_type: string | null;
  config_digest: string | null;
  subject_digest: string | null;
  annotations: string | null;
  platform_os: string | null;
  platform_architecture: string | null;
  platform_variant: string | null;
  created_at: string;
  updated_at: string;
  /** When its last tag went (or when it was pushed without one); null while tagged. */
  untagged_at: string | null;
  delete_enabled: Generated<number>;
  write_enabled: Generated<number>;
  read_enabled: Generated<number>;
  list_enabled: Generated<number>;
  last_pulled_at: Generated<string | null>;
  pull_count: Generated<number>;
}

export interface ManifestReferencesTable {
  repository: string;
  parent_digest: string;
  child_digest: string;
  child_kind: 'blob' | 'manifest';
}

export interface TagsTable {
  repository: string;
  name: string;
  digest: string;
  created_at: string;
  updated_at: string;
  delete_enabled: Generated<number>;
  write_enabled: Generated<number>;
  read_enabled: Generated<number>;
  list_enabled: Generated<number>;
  last_pulled_at: Generated<string | null>;
  pull_count: Generated<number>;
}

export interface UploadsTable {
  id: string;
  repository: string;
  size: number;
  created_at: string;
  updated_at: string;
}

export interface UsersTable {
  name: string;
  password_hash: string;
  roles: string;
  enabled: number;
  password_changed_at: string;
  created_at: string;
}

export interface TokensTable {
  name: string;
  scope_map: string;
  enabled: number;
  expires_at: string | null;
  password1: string | null;
  password2: string | null;
  created_at: string;
}

export interface ScopeMapsTable {
  name: string;
  description: string;
  rules: string;
  system: number;
  created_at: string;
}

export interface SigningKeysTable {
  kid: string;
  private_jwk: string;
  public_jwk: string;
  created_at: string;
  retired_at: string | null;
}

export interface SettingsTable {
  key: string;
  value: string;
}

export interface AuditEventsTable {
  id: Generated<number>;
  at: string;
  kind: string;
  actor: string;
  client: string | null;
  target: string | null;
  detail: string | null;
}

export interface WebhooksTable {
  name: string;
  service_uri: string;
  custom_headers: string;
  actions: string;
  scope: string;
  enabled: number;
  format: string;
  signing_secret: string | null;
  created_at: string;
}

export interface WebhookDeliveriesTable {
  id: Generated<number>;
  webhook: string;
  event_id: string;
  action: string;
  request_uri: string;
  request_headers: string;
  request_body: string;
  status: string;
  attempts: number;
  created_at: string;
  next_attempt_at: string;
  last_attempt_at: string | null;
  response_status: number | null;
  response_reason: string | null;
  response_headers: string | null;
  response_body: string | null;
  error: string | null;
}

export interface ImportsTable {
  id: string;
  job: string;
  status: string;
  created_at: string;
}

export interface RunsTable {
  id: string;
  seq: number;
  status: string;
  task_name: string | null;
  agent: string | null;
  lease_until: string | null;
  cancel_requested: number;
  created_at: string;
  platform: string;
  trigger_key: string | null;
  record: string;
}

export interface WorkItemsTable {
  id: Generated<number>;
  kind: string;
  key: string;
  recurring: number;
  payload: string;
  run_at: string;
  lease_owner: string | null;
  lease_until: string | null;
  attempts: number;
  last_error: string | null;
  created_at: string;
  updated_at: string;
}

export interface TaskBaseImagesTable {
  task: string;
  registry: string;
  repository: string;
  tag: string;
  dependency: string;
  digest: string | null;
  tag_policy: string | null;
  checked_at: string | null;
  error: string | null;
}

export interface SourceEventsTable {
  id: Generated<number>;
  task: string;
  received_at: string;
  provider: string;
  delivery_id: string | null;
  repository_url: string | null;
  ref: string | null;
  commit_sha: string | null;
  verdict: string;
  run_id: string | null;
  detail: string | null;
}

export interface RegistryEventsTable {
  seq: Generated<number>;
  name: string;
  payload: string;
  created_at: string;
}

export interface EventCursorsTable {
  consumer: string;
  seq: number;
}

export interface RunSecretsTable {
  run_id: string;
  sealed: string;
}

export interface RunLogsTable {
  run_id: string;
  seq: Generated<number>;
  text: string;
}

export interface TasksTable {
  name: string;
  record: string;
}

export interface SecretsTable {
  name: string;
  sealed: string;
  created_at: string;
  updated_at: string;
}

export interface GcBlobReviewsTable {
  digest: string;
  /** Reviewable once this is older than the grace period; every touch moves it to now. */
  due_from: string;
  /** Bumped by every touch: a review that saw another version does not delete. */
  version: number;
  reason: string;
  claimed_by: string | null;
  claimed_until: string | null;
}

export interface GcRunsTable {
  id: Generated<number>;
  started_at: string;
  finished_at: string;
  trigger: string;
  dry_run: number;
  candidates: number;
  blobs_deleted: number;
  bytes_freed: number;
  uploads_deleted: number;
  duration_ms: number;
}

/** Soft delete's archive (migration 0015): a deleted manifest as it was, restorable for N days. */
export interface DeletedManifestsTable {
  repository: string;
  digest: string;
  media_type: string;
  size: number;
  content: Uint8Array;
  artifact_type: string | null;
  config_media_type: string | null;
  config_digest: string | null;
  subject_digest: string | null;
  annotations: string | null;
  platform_os: string | null;
  platform_architecture: string | null;
  platform_variant: string | null;
  created_at: string;
  updated_at: string;
  deleted_at: string;
}

export interface DeletedManifestReferencesTable {
  repository: string;
  parent_digest: string;
  child_digest: string;
  child_kind: 'blob' | 'manifest';
}

/** A tag a delete took, with the digest it pointed at then (its manifest may still be live). */
export interface DeletedTagsTable {
  repository: string;
  name: string;
  digest: string;
  created_at: string;
  updated_at: string;
  deleted_at: string;
}

export interface LifecyclePoliciesTable {
  name: string;
  repository: string;
  /** PolicyRules as JSON. */
  rules: string;
  enabled: number;
  created_at: string;
  updated_at: string;
}

export interface Database {
  deleted_manifests: DeletedManifestsTable;
  deleted_manifest_references: DeletedManifestReferencesTable;
  deleted_tags: DeletedTagsTable;
  lifecycle_policies: LifecyclePoliciesTable;
  gc_blob_reviews: GcBlobReviewsTable;
  gc_runs: GcRunsTable;
  work_items: WorkItemsTable;
  task_base_images: TaskBaseImagesTable;
  source_events: SourceEventsTable;
  secrets: SecretsTable;
  tasks: TasksTable;
  runs: RunsTable;
  run_logs: RunLogsTable;
  run_secrets: RunSecretsTable;
  registry_events: RegistryEventsTable;
  event_cursors: EventCursorsTable;
  imports: ImportsTable;
  webhooks: WebhooksTable;
  webhook_deliveries: WebhookDeliveriesTable;
  users: UsersTable;
  tokens: TokensTable;
  scope_maps: ScopeMapsTable;
  signing_keys: SigningKeysTable;
  settings: SettingsTable;
  audit_events: AuditEventsTable;
  repositories: RepositoriesTable;
  blobs: BlobsTable;
  repository_blobs: RepositoryBlobsTable;
  manifests: ManifestsTable;
  manifest_references: ManifestReferencesTable;
  tags: TagsTable;
  uploads: UploadsTable;
}

export type SqlDialectName = 'sqlite' | 'postgres';
