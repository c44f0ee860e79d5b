import type {
  ChangeableAttributes,
  ListingOrder,
  ManifestDetail,
  RepositoryDetail,
  RepositoryMetadataStore,
  RepositoryStorage,
  TagDetail,
} from '../metadata/repository-metadata-store.js';
import { RegistryError } from './errors.js';
import type { ManifestService } from './manifest-service.js';
import { assertRepositoryName, isTag } from './reference.js';

export interface DeletionReport {
  manifestsDeleted: string[];
  tagsDeleted: string[];
}

const nameUnknown = (name: string) => new RegistryError('NAME_UNKNOWN', 'repository name not known to registry', { name });

/**
 * Repository management as ACR's data API offers it: attributes, time-ordered listings, and
 * deletions that report what they took. Deletions go through ManifestService, so they are
 * journaled (webhooks, audit) exactly as /v2 deletions are.
 */
export class RepositoryService {
  constructor(
    private readonly store: RepositoryMetadataStore,
    private readonly content: ManifestService,
  ) {}

  async repository(name: string): Promise<{ detail: RepositoryDetail; storage: RepositoryStorage | undefined }> {
    assertRepositoryName(name);
    const detail = await this.store.repository(name);
    if (!detail) throw nameUnknown(name);
    const [storage] = await this.store.repositoryStorage(name);
    return { detail, storage };
  }

  async tags(name: string, order: ListingOrder, last: string | undefined, limit: number, digest?: string): Promise<TagDetail[]> {
    assertRepositoryName(name);
    if (!(await this.store.repository(name))) throw nameUnknown(name);
    return this.store.tags(name, { order, last, limit }, digest);
  }

  async tag(name: string, tag: string): Promise<TagDetail> {
    assertRepositoryName(name);
    const detail = await this.store.tag(name, tag);
    if (detail) return detail;
    if (!(await this.store.repository(name))) throw nameUnknown(name);
    throw new RegistryError('MANIFEST_UNKNOWN', 'tag unknown to registry', { tag });
  }

  async manifests(name: string, order: ListingOrder, last: string | undefined, limit: number): Promise<ManifestDetail[]> {
    assertRepositoryName(name);
    if (!(await this.store.repository(name))) throw nameUnknown(name);
    return this.store.manifests(name, { order, last, limit });
  }

  /** By digest, or by tag (the manifest it points at). */
  async manifest(name: string, reference: string): Promise<ManifestDetail> {
    const digest = await this.digestOf(name, reference);
    const detail = await this.store.manifest(name, digest);
    if (detail) return detail;
    if (!(await this.store.repository(name))) throw nameUnknown(name);
    throw new RegistryError('MANIFEST_UNKNOWN', 'manifest unknown to registry', { reference });
  }

  async updateRepository(name: string, change: Partial<ChangeableAttributes>): Promise<void> {
    assertRepositoryName(name);
    if (!(await this.store.updateAttributes({ kind: 'repository', repository: name }, change))) throw nameUnknown(name);
  }

  async updateTag(name: string, tag: string, change: Partial<ChangeableAttributes>): Promise<void> {
    await this.tag(name, tag);
    await this.store.updateAttributes({ kind: 'tag', repository: name, tag }, change);
  }

  async updateManifest(name: string, reference: string, change: Partial<ChangeableAttributes>): Promise<void> {
    const { digest } = await this.manifest(name, reference);
    await this.store.updateAttributes({ kind: 'manifest', repository: name, digest }, change);
  }

  /** ACR's semantics: by tag, the manifest goes, and every other tag on it with it. */
  async deleteManifest(name: string, reference: string): Promise<DeletionReport> {
    const { digest, tags } = await this.manifest(name, reference);
    await this.content.delete(name, digest);
    return { manifestsDeleted: [digest], tagsDeleted: tags };
  }

  /** Removes only the tag; the manifest stays. */
  async untag(name: string, tag: string): Promise<DeletionReport> {
    await this.tag(name, tag);
    await this.content.delete(name, tag);
    return { manifestsDeleted: [], tagsDeleted: [tag] };
  }

  /**
   * Every manifest of the repository (and so every tag), in one transaction: a lock on the
   * repository or on anything in it refuses the whole deletion (DENIED, naming the first lock).
   */
  async deleteRepository(name: string): Promise<DeletionReport> {
    await this.repository(name);
    const deleted = await this.content.deleteRepository(name);
    return { manifestsDeleted: deleted.map((m) => m.digest), tagsDeleted: deleted.flatMap((m) => m.tags) };
  }

  private async digestOf(name: string, reference: string): Promise<string> {
    assertRepositoryName(name);
    if (reference.includes(':')) return reference;
    if (!isTag(reference)) throw new RegistryError('MANIFEST_UNKNOWN', 'manifest unknown to registry', { reference });
    return (await this.tag(name, reference)).digest;
  }
}
