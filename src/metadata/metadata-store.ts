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
  /**
   * readEnabled of each level a pull passes through, read with the manifest (no extra query):
   * the repository's, the manifest's, and the tag's when looked up by tag.
   */
  readEnabled?: { repository: boolean; manifest: boolean; tag?: boolean };
}

/** A linked blob as a pull sees it: its size and its repository's readEnabled. */
export interface LinkedBlob {
  size: number;
  repositoryReadEnabled: boolean;
}

/** What a push would meet: the repository's writeEnabled (null: no repository yet) and the tag's. */
export interface PushLocks {
  repositoryWriteEnabled: boolean | null;
  tag: { digest: string; writeEnabled: boolean } | null;
}

/** One deleted manifest, as a repository deletion reports and journals it. */
export interface DeletedManifest {
  digest: string;
  mediaType: string;
  tags: string[];
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
  /** The catalog: repositories with listEnabled (a hidden one is still pullable). */
  listRepositories(page: Page): Promise<string[]>;
  repositoryExists(repository: string): Promise<boolean>;

  /** Records that `repository` may serve blob `digest` (creating the repository if needed). */
  linkBlob(repository: string, digest: string, size: number): Promise<void>;
  /** Size of the blob if `repository` links it, else null. */
  linkedBlobSize(repository: string, digest: string): Promise<number | null>;
  /** The link with its repository's read lock, in the one query a blob GET/HEAD makes. */
  linkedBlob(repository: string, digest: string): Promise<LinkedBlob | null>;
  /** Up to `limit` repositories that link the blob. */
  repositoriesWithBlob(digest: string, limit: number): Promise<string[]>;
  /** Refuses (DENIED) when the repository is write- or delete-locked. */
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
   * before). Returns that previous digest (null if the tag is new or did not move). Refuses
   * (DENIED) in that transaction when the repository is write-locked or the tag is and would move.
   */
  putManifest(
    manifest: ManifestRecord,
    children: ManifestChild[],
    tag: string | null,
    journal?: (previousTagDigest: string | null) => JournalEntry[],
  ): Promise<{ previousTagDigest: string | null }>;
  getManifest(repository: string, digest: string): Promise<StoredManifest | null>;
  getManifestByTag(repository: string, tag: string): Promise<StoredManifest | null>;
  /**
   * Deletes a manifest and every tag pointing at it (journaling `journal` if it existed). Refuses
   * (DENIED) when the repository, the manifest or one of those tags is write- or delete-locked.
   */
  deleteManifest(repository: string, digest: string, journal?: JournalEntry[]): Promise<boolean>;

  /** Tags with listEnabled (a hidden one is still pullable). */
  listTags(repository: string, page: Page): Promise<string[]>;
  /** Tags pointing at `digest`. */
  tagsOf(repository: string, digest: string): Promise<string[]>;
  getTag(repository: string, tag: string): Promise<TagRecord | null>;
  /**
   * With `expectedDigest`, only while the tag still points there. Refuses (DENIED) when the tag or
   * its repository is write- or delete-locked (the manifest's lock does not hold its tags).
   */
  deleteTag(repository: string, tag: string, journal?: JournalEntry[], expectedDigest?: string): Promise<boolean>;
  /**
   * Deletes a manifest only if nothing keeps it, checked in the deleting transaction: no tag, no
   * parent index in the repository, no subject still present. False when kept or absent; refuses
   * (DENIED) when the manifest or its repository is write- or delete-locked.
   */
  deleteManifestIfUnused(repository: string, digest: string, journal: JournalEntry[]): Promise<boolean>;
  /**
   * Points a new tag at a stored manifest, named by `name` from the repository's tags that start
   * with `namePrefix`, read in the same transaction as the write (so two callers never pick the
   * same name), with the journal entries `journal` makes. Null when the repository does not hold
   * the manifest. Refuses (DENIED) when the repository is write-locked.
   */
  addTagNamedFrom(
    repository: string,
    digest: string,
    namePrefix: string,
    name: (tags: string[]) => string,
    journal: (tag: string, manifest: { mediaType: string; size: number }) => JournalEntry[],
  ): Promise<{ tag: string } | null>;

  /**
   * Deletes every manifest and tag of a repository in one transaction, journaling what `journal`
   * makes of them; refuses (DENIED) with the first lock found (the repository's, a tag's, a
   * manifest's), deleting nothing.
   */
  deleteRepositoryContent(repository: string, journal: (deleted: DeletedManifest[]) => JournalEntry[]): Promise<DeletedManifest[]>;
  /** The locks a push to `repository` (and `tag`) would meet, for callers that refuse early (import). */
  pushLocks(repository: string, tag: string | null): Promise<PushLocks>;

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
