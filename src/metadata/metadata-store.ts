/**
 * What the registry remembers besides blob bytes: repositories, which blobs each repository may
 * serve, manifests (with their content), tags, referrers and upload sessions. Every method is
 * atomic on its own; implementations exist for SQLite (embedded default) and PostgreSQL.
 */

export interface Page {
  /** Return entries strictly after this one, in lexical order. */
  last?: string;
  limit: number;
}

export interface ManifestRecord {
  repository: string;
  digest: string;
  mediaType: string;
  size: number;
  content: Uint8Array;
  artifactType: string | null;
  configMediaType: string | null;
  configDigest: string | null;
  subjectDigest: string | null;
  annotations: Record<string, string> | null;
  platform: { os: string; architecture: string; variant?: string } | null;
}

export interface StoredManifest extends ManifestRecord {
  createdAt: string;
  updatedAt: string;
}

/** A content reference from a manifest: a blob (config, layer) or a child manifest (index entry). */
export interface ManifestChild {
  digest: string;
  kind: 'blob' | 'manifest';
  /** As the referencing descriptor states it. */
  size?: number;
}

export interface ReferrerDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType: string | null;
  annotations: Record<string, string> | null;
}

export interface UploadSession {
  id: string;
  repository: string;
  size: number;
  createdAt: string;
  updatedAt: string;
}

export interface TagRecord {
  name: string;
  digest: string;
  createdAt: string;
  updatedAt: string;
}

/** An event recorded in the same transaction as the change it tells of. */
export interface JournalEntry {
  name: string;
  payload: unknown;
}

export interface JournaledEvent extends JournalEntry {
  seq: number;
  createdAt: string;
}

export interface MetadataStore {
  listRepositories(page: Page): Promise<string[]>;
  repositoryExists(repository: string): Promise<boolean>;

  /** Records that `repository` may serve blob `digest` (creating the repository if needed). */
  linkBlob(repository: string, digest: string, size: number): Promise<void>;
  /** Size of the blob if `repository` links it, else null. */
  linkedBlobSize(repository: string, digest: string): Promise<number | null>;
  /** Up to `limit` repositories that link the blob. */
  repositoriesWithBlob(digest: string, limit: number): Promise<string[]>;
  unlinkBlob(repository: string, digest: string): Promise<boolean>;
  /**
   * A blob is about to be used (uploaded, mounted, linked, HEAD-checked, referenced): a review
   * pending for it is postponed and its mark cleared, so the collector never removes it. Called
   * before the use reads the blob's link, so either the touch or the collector comes first.
   */
  touchBlobs(digests: string[]): Promise<void>;

  createUpload(session: UploadSession): Promise<void>;
  getUpload(id: string): Promise<UploadSession | null>;
  setUploadSize(id: string, size: number): Promise<void>;
  deleteUpload(id: string): Promise<void>;
  /** Links the committed blob into the session's repository and closes the session, atomically. */
  finishUpload(session: UploadSession, digest: string): Promise<void>;
  countUploads(): Promise<number>;

  /** Of `children`, those `repository` cannot serve (missing blobs or manifests). */
  missingChildren(repository: string, children: ManifestChild[]): Promise<ManifestChild[]>;
  /**
   * Stores a manifest, its child references and optionally points `tag` at it, in one
   * transaction, with the journal entries `journal` makes (given what the tag pointed at
   * before). Returns that previous digest (null if the tag is new or did not move).
   */
  putManifest(
    manifest: ManifestRecord,
    children: ManifestChild[],
    tag: string | null,
    journal?: (previousTagDigest: string | null) => JournalEntry[],
  ): Promise<{ previousTagDigest: string | null }>;
  getManifest(repository: string, digest: string): Promise<StoredManifest | null>;
  getManifestByTag(repository: string, tag: string): Promise<StoredManifest | null>;
  /** Deletes a manifest and every tag pointing at it (journaling `journal` if it existed). */
  deleteManifest(repository: string, digest: string, journal?: JournalEntry[]): Promise<boolean>;

  listTags(repository: string, page: Page): Promise<string[]>;
  /** Tags pointing at `digest`. */
  tagsOf(repository: string, digest: string): Promise<string[]>;
  getTag(repository: string, tag: string): Promise<TagRecord | null>;
  /** With `expectedDigest`, only while the tag still points there. */
  deleteTag(repository: string, tag: string, journal?: JournalEntry[], expectedDigest?: string): Promise<boolean>;
  /**
   * Deletes a manifest only if nothing keeps it, checked in the deleting transaction: no tag, no
   * parent index in the repository, no subject still present. False when kept or absent.
   */
  deleteManifestIfUnused(repository: string, digest: string, journal: JournalEntry[]): Promise<boolean>;
  /**
   * Points a new tag at a stored manifest, named by `name` from the repository's tags that start
   * with `namePrefix`, read in the same transaction as the write (so two callers never pick the
   * same name), with the journal entries `journal` makes. Null when the repository does not hold
   * the manifest.
   */
  addTagNamedFrom(
    repository: string,
    digest: string,
    namePrefix: string,
    name: (tags: string[]) => string,
    journal: (tag: string, manifest: { mediaType: string; size: number }) => JournalEntry[],
  ): Promise<{ tag: string } | null>;

  /** Journal entries after `afterSeq`, oldest first. */
  readJournal(afterSeq: number, limit: number): Promise<JournaledEvent[]>;
  /** Where a consumer has read the journal up to (0: nothing read). */
  /** A consumer's saved cursor; null when it has never saved one. */
  journalCursor(consumer: string): Promise<number | null>;
  /** The last entry's sequence number (0 when the journal is empty). */
  journalHead(): Promise<number>;
  saveJournalCursor(consumer: string, seq: number): Promise<void>;
  /** Deletes entries up to `seq` written before `before`; returns how many went. */
  pruneJournal(seq: number, before: string): Promise<number>;

  listReferrers(repository: string, subjectDigest: string, artifactType?: string): Promise<ReferrerDescriptor[]>;

  /** Bytes of distinct blobs plus manifests held, for the storage-used gauge. */
  storageUsed(): Promise<number>;
  close(): Promise<void>;
}
