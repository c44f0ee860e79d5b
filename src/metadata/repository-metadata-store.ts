/**
 * What the data API (ACR's /acr/v1) reads and writes besides content: repository, tag and
 * manifest attributes with their times, pull statistics, and storage accounting. Kept apart from
 * MetadataStore so the hot push and pull paths do not grow with it.
 */

/** ACR's changeable attributes (locks); what each one refuses is in src/registry/locks.ts. */
export interface ChangeableAttributes {
  deleteEnabled: boolean;
  writeEnabled: boolean;
  readEnabled: boolean;
  listEnabled: boolean;
}

export interface PullStatistics {
  lastPulledAt: string | null;
  pullCount: number;
}

export interface RepositoryDetail {
  name: string;
  createdAt: string;
  updatedAt: string;
  manifestCount: number;
  tagCount: number;
  attributes: ChangeableAttributes;
}

export interface TagDetail extends PullStatistics {
  name: string;
  digest: string;
  createdAt: string;
  updatedAt: string;
  attributes: ChangeableAttributes;
}

export interface ManifestDetail extends PullStatistics {
  digest: string;
  mediaType: string;
  configMediaType: string | null;
  artifactType: string | null;
  subjectDigest: string | null;
  /** The manifest's own bytes. */
  size: number;
  /** The manifest plus the blobs it references directly (config and layers). */
  imageSize: number;
  os: string | null;
  architecture: string | null;
  variant: string | null;
  createdAt: string;
  updatedAt: string;
  tags: string[];
  /** For an index: its child manifests with their platforms. */
  references: Array<{ digest: string; os: string | null; architecture: string | null; variant: string | null }>;
  attributes: ChangeableAttributes;
}

/** `timedesc`/`timeasc` order by last update time; `name` is lexical (the default). */
export type ListingOrder = 'name' | 'timedesc' | 'timeasc';

export interface ListingPage {
  order: ListingOrder;
  /** The name (tag) or digest (manifest) of the last entry of the previous page. */
  last?: string;
  limit: number;
}

/** Bytes of content: manifests and the blobs they reference, each distinct digest once. */
export interface StorageFigures {
  referencedBytes: number;
  /** Referenced here and by no other repository. */
  uniqueBytes: number;
  /** Referenced here and by at least one other repository. */
  sharedBytes: number;
}

export interface RepositoryStorage extends StorageFigures {
  repository: string;
}

/** Pulls counted since the last flush, for one tag or manifest. */
export interface PullTally {
  repository: string;
  kind: 'tag' | 'manifest';
  /** Tag name or manifest digest. */
  key: string;
  count: number;
  lastPulledAt: string;
}

export interface RepositoryMetadataStore {
  repository(name: string): Promise<RepositoryDetail | null>;
  tags(repository: string, page: ListingPage, digest?: string): Promise<TagDetail[]>;
  tag(repository: string, name: string): Promise<TagDetail | null>;
  manifests(repository: string, page: ListingPage): Promise<ManifestDetail[]>;
  manifest(repository: string, digest: string): Promise<ManifestDetail | null>;
  /** False when there is no such repository, tag or manifest. */
  updateAttributes(target: AttributeTarget, change: Partial<ChangeableAttributes>): Promise<boolean>;
  /** Adds the tallies in one transaction; tags or manifests deleted meanwhile are skipped. */
  recordPulls(tallies: PullTally[]): Promise<void>;
  /** One repository's figures, or every repository's when `repository` is undefined. */
  repositoryStorage(repository?: string): Promise<RepositoryStorage[]>;
  /** The registry as a whole: each distinct digest counted once. */
  registryStorage(): Promise<StorageFigures>;
}

export type AttributeTarget =
  | { kind: 'repository'; repository: string }
  | { kind: 'tag'; repository: string; tag: string }
  | { kind: 'manifest'; repository: string; digest: string };
