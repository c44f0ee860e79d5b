/** Table shapes as Kysely sees them. Times are ISO-8601 UTC strings (sortable, portable). */
export interface RepositoriesTable {
  name: string;
  created_at: string;
  updated_at: string;
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
}

export interface UploadsTable {
  id: string;
  repository: string;
  size: number;
  created_at: string;
  updated_at: string;
}

export interface Database {
  repositories: RepositoriesTable;
  blobs: BlobsTable;
  repository_blobs: RepositoryBlobsTable;
  manifests: ManifestsTable;
  manifest_references: ManifestReferencesTable;
  tags: TagsTable;
  uploads: UploadsTable;
}

export type SqlDialectName = 'sqlite' | 'postgres';
