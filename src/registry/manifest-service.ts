import type { BlobStore } from '../storage/blob-store.js';
import type { DeletedManifest, ManifestRecord, MetadataStore, ReferrerDescriptor, StoredManifest } from '../metadata/metadata-store.js';
import type { RegistryEvents } from '../events/registry-events.js';
import { RegistryError } from './errors.js';
import { lockedError } from './locks.js';
import { assertRepositoryName, isTag, parseDigest, parseManifestReference, type ManifestReference } from './reference.js';
import { digestOf } from './digest.js';
import { isImageConfigType, parseManifest, type Descriptor } from './manifest.js';
import { assertVersionBump, assertVersionPrefix, formatVersion, highestVersion, nextVersion, versionOf, type Version } from './version-tags.js';

/** Manifests larger than this are refused (the OCI spec's suggested minimum limit is 4 MiB). */
export const maxManifestBytes = 4 * 1024 * 1024;
/** Image configs are read at push time to record the platform; larger ones are skipped. */
const maxConfigBytesToInspect = 1024 * 1024;

export interface VersionTagResult {
  repository: string;
  tag: string;
  version: string;
  digest: string;
  /** The highest version before this one (null: the first). */
  previousVersion: string | null;
}

export interface PutManifestResult {
  digest: string;
  subject: string | null;
}

/** Manifests, tags, referrers and the catalog: the registry's view of what content is named what. */
export class ManifestService {
  constructor(
    private readonly blobs: BlobStore,
    private readonly metadata: MetadataStore,
    private readonly events: RegistryEvents,
  ) {}

  async put(repository: string, reference: string, content: Buffer, contentType: string | undefined): Promise<PutManifestResult> {
    assertRepositoryName(repository);
    const ref = parseManifestReference(reference);
    if (content.length > maxManifestBytes) {
      throw new RegistryError('SIZE_INVALID', `manifest exceeds ${maxManifestBytes} bytes`, { size: content.length }, { status: 413 });
    }
    const parsed = parseManifest(content, contentType);
    const digest = ref.kind === 'digest' ? digestOf(content, parseDigest(ref.digest).algorithm) : digestOf(content);
    if (ref.kind === 'digest' && digest !== ref.digest) {
      throw new RegistryError('DIGEST_INVALID', 'manifest digest does not match its content', { expected: ref.digest, actual: digest });
    }
    // Referenced blobs are touched before their presence is checked, so a collector cannot
    // remove one between the check and the manifest's transaction.
    await this.metadata.touchBlobs(parsed.children.filter((c) => c.kind === 'blob').map((c) => c.digest));
    const missing = await this.metadata.missingChildren(repository, parsed.children);
    if (missing.length > 0) {
      throw new RegistryError('MANIFEST_BLOB_UNKNOWN', `${missing[0]!.kind} unknown to registry`, { digest: missing[0]!.digest });
    }
    const record: ManifestRecord = {
      repository,
      digest,
      mediaType: parsed.mediaType,
      size: content.length,
      content,
      artifactType: parsed.artifactType,
      configMediaType: parsed.config?.mediaType ?? null,
      configDigest: parsed.config?.digest ?? null,
      subjectDigest: parsed.subject?.digest ?? null,
      annotations: parsed.annotations,
      platform: parsed.config ? await this.platformOf(parsed.config) : null,
    };
    const tag = ref.kind === 'tag' ? ref.tag : null;
    await this.metadata.putManifest(record, parsed.children, tag, (previousDigest) => [
      this.events.journalEntry('manifest.pushed', { repository, digest, tag, mediaType: parsed.mediaType, size: content.length, previousDigest }),
    ]);
    this.events.committed();
    return { digest, subject: parsed.subject?.digest ?? null };
  }

  /**
   * Tags the manifest `source` names (a tag or a digest) with the next `PREFIX-X.Y.Z` version.
   * The highest existing version is read in the transaction that adds the tag, so concurrent
   * callers get distinct versions; the tag is journaled as `manifest.pushed`, as any tag push.
   */
  async tagNextVersion(repository: string, source: string, prefix: string, bump: string): Promise<VersionTagResult> {
    assertRepositoryName(repository);
    assertVersionPrefix(prefix);
    assertVersionBump(bump);
    // Tagging is a write, not a pull: a read lock on the source does not stop it.
    const { digest } = await this.find(repository, source);
    let previous: Version | null = null;
    const added = await this.metadata.addTagNamedFrom(
      repository,
      digest,
      `${prefix}-`,
      (tags) => {
        previous = highestVersion(prefix, tags);
        return `${prefix}-${formatVersion(nextVersion(previous, bump))}`;
      },
      (tag, manifest) => [this.events.journalEntry('manifest.pushed', { repository, digest, tag, mediaType: manifest.mediaType, size: manifest.size, previousDigest: null })],
    );
    // Deleted between the lookup and the transaction.
    if (!added) throw await this.unknown(repository, 'MANIFEST_UNKNOWN', 'manifest unknown to registry', { reference: source });
    this.events.committed();
    const previousVersion = previous as Version | null;
    return { repository, tag: added.tag, version: formatVersion(versionOf(prefix, added.tag)!), digest, previousVersion: previousVersion ? formatVersion(previousVersion) : null };
  }

  /** A pull: refused (DENIED) when the repository, the tag asked by, or the manifest is read-locked. */
  async get(repository: string, reference: string): Promise<StoredManifest> {
    const manifest = await this.find(repository, reference);
    const readable = manifest.readEnabled;
    if (readable?.repository === false) throw lockedError({ kind: 'repository', repository }, 'readEnabled');
    if (readable?.tag === false) throw lockedError({ kind: 'tag', repository, tag: reference }, 'readEnabled');
    if (readable?.manifest === false) throw lockedError({ kind: 'manifest', repository, digest: manifest.digest }, 'readEnabled');
    return manifest;
  }

  private async find(repository: string, reference: string): Promise<StoredManifest> {
    assertRepositoryName(repository);
    const ref = await this.lookupReference(repository, reference);
    const manifest =
      ref.kind === 'tag'
        ? await this.metadata.getManifestByTag(repository, ref.tag)
        : await this.metadata.getManifest(repository, ref.digest);
    if (manifest) return manifest;
    throw await this.unknown(repository, 'MANIFEST_UNKNOWN', 'manifest unknown to registry', { reference });
  }

  /** By digest: the manifest and all its tags. By tag: only the tag (OCI 1.1). */
  async delete(repository: string, reference: string): Promise<void> {
    assertRepositoryName(repository);
    const ref = await this.lookupReference(repository, reference);
    if (ref.kind === 'tag') {
      const journal = [this.events.journalEntry('tag.deleted', { repository, tag: ref.tag })];
      if (!(await this.metadata.deleteTag(repository, ref.tag, journal))) throw await this.unknown(repository, 'MANIFEST_UNKNOWN', 'manifest unknown to registry', { reference });
      this.events.committed();
      return;
    }
    // Read before deleting: subscribers (webhooks) report the media type and the tags it had.
    const manifest = await this.metadata.getManifest(repository, ref.digest);
    const tags = manifest ? await this.metadata.tagsOf(repository, ref.digest) : [];
    const journal = manifest ? [this.events.journalEntry('manifest.deleted', { repository, digest: ref.digest, mediaType: manifest.mediaType, tags })] : [];
    if (!manifest || !(await this.metadata.deleteManifest(repository, ref.digest, journal))) {
      throw await this.unknown(repository, 'MANIFEST_UNKNOWN', 'manifest unknown to registry', { reference });
    }
    this.events.committed();
  }

  /**
   * Every manifest and tag of the repository, in one transaction; refused (DENIED) with the first
   * lock found, and then nothing is deleted. Journaled as one `manifest.deleted` per manifest.
   */
  async deleteRepository(repository: string): Promise<DeletedManifest[]> {
    assertRepositoryName(repository);
    const deleted = await this.metadata.deleteRepositoryContent(repository, (manifests) =>
      manifests.map((m) => this.events.journalEntry('manifest.deleted', { repository, digest: m.digest, mediaType: m.mediaType, tags: m.tags })),
    );
    if (deleted.length > 0) this.events.committed();
    return deleted;
  }

  /**
   * Refuses (DENIED) a push the locks would refuse, before any work is done for it (an import
   * copying blobs). The push's own transaction checks again: this only fails early.
   */
  async assertPushAllowed(repository: string, tag: string | null, digest: string): Promise<void> {
    const locks = await this.metadata.pushLocks(repository, tag);
    if (locks.repositoryWriteEnabled === false) throw lockedError({ kind: 'repository', repository }, 'writeEnabled');
    if (tag !== null && locks.tag && !locks.tag.writeEnabled && locks.tag.digest !== digest) throw lockedError({ kind: 'tag', repository, tag }, 'writeEnabled');
  }

  /**
   * Deletes a tag only while it still points at `digest` (purge acts on what it planned). A lock
   * on the tag or its repository throws DENIED rather than answering false: purge counts it as kept.
   */
  async deleteTagIfAt(repository: string, tag: string, digest: string): Promise<boolean> {
    const journal = [this.events.journalEntry('tag.deleted', { repository, tag })];
    const deleted = await this.metadata.deleteTag(repository, tag, journal, digest);
    if (deleted) this.events.committed();
    return deleted;
  }

  /**
   * Deletes an untagged manifest unless something keeps it (a tag, a parent index, a subject
   * still present), checked in the deleting transaction; journaled as `manifest.deleted`. A lock
   * throws DENIED rather than answering false: purge counts it as kept by a lock.
   */
  async deleteIfUnused(repository: string, digest: string): Promise<boolean> {
    const manifest = await this.metadata.getManifest(repository, digest);
    if (!manifest) return false;
    const journal = [this.events.journalEntry('manifest.deleted', { repository, digest, mediaType: manifest.mediaType, tags: [] })];
    const deleted = await this.metadata.deleteManifestIfUnused(repository, digest, journal);
    if (deleted) this.events.committed();
    return deleted;
  }

  /**
   * A reference to look up. Only a push refuses a malformed tag (TAG_INVALID); a lookup by one
   * names nothing there is, so it is unknown (404), as the conformance suite and Distribution say.
   */
  private async lookupReference(repository: string, reference: string): Promise<ManifestReference> {
    if (!reference.includes(':') && !isTag(reference)) {
      throw await this.unknown(repository, 'MANIFEST_UNKNOWN', 'manifest unknown to registry', { reference });
    }
    return parseManifestReference(reference);
  }

  async listTags(repository: string, last: string | undefined, limit: number): Promise<string[]> {
    assertRepositoryName(repository);
    const tags = await this.metadata.listTags(repository, { last, limit });
    if (tags.length === 0 && !(await this.metadata.repositoryExists(repository))) {
      throw new RegistryError('NAME_UNKNOWN', 'repository name not known to registry', { name: repository });
    }
    return tags;
  }

  async listRepositories(last: string | undefined, limit: number): Promise<string[]> {
    return this.metadata.listRepositories({ last, limit });
  }

  async listReferrers(repository: string, subjectDigest: string, artifactType: string | undefined): Promise<ReferrerDescriptor[]> {
    assertRepositoryName(repository);
    parseDigest(subjectDigest);
    return this.metadata.listReferrers(repository, subjectDigest, artifactType);
  }

  private async unknown(repository: string, code: 'MANIFEST_UNKNOWN', message: string, detail: unknown): Promise<RegistryError> {
    if (!(await this.metadata.repositoryExists(repository))) {
      return new RegistryError('NAME_UNKNOWN', 'repository name not known to registry', { name: repository });
    }
    return new RegistryError(code, message, detail);
  }

  private async platformOf(config: Descriptor): Promise<ManifestRecord['platform']> {
    if (!isImageConfigType(config.mediaType) || config.size > maxConfigBytesToInspect) return null;
    try {
      const chunks: Buffer[] = [];
      for await (const chunk of await this.blobs.read(config.digest)) chunks.push(chunk as Buffer);
      const image = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
      if (typeof image.os !== 'string' || typeof image.architecture !== 'string') return null;
      return { os: image.os, architecture: image.architecture, ...(typeof image.variant === 'string' ? { variant: image.variant } : {}) };
    } catch {
      return null; // an unreadable config does not make the manifest invalid
    }
  }
}
