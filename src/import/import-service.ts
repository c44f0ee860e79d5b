import { randomUUID } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import type { BlobService } from '../registry/blob-service.js';
import type { ManifestService } from '../registry/manifest-service.js';
import type { MetadataStore } from '../metadata/metadata-store.js';
import { RegistryError } from '../registry/errors.js';
import { lockedError } from '../registry/locks.js';
import { digestOf } from '../registry/digest.js';
import { parseManifest } from '../registry/manifest.js';
import { emptyProgress, type ImportJob, type ImportStore } from './import-store.js';
import { parseSourceReference, parseTarget, type SourceReference } from './image-reference.js';
import { RemoteRegistry, type RemoteCredentials } from './remote-registry.js';
import { runWithRequestContext } from '../events/request-context.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { EgressPolicy } from '../network/egress.js';

/** ACR's limit on manifests in one import (an index, its children and referrers). */
const maxManifests = 50;
const chunkBytes = 8 * 1024 * 1024;
const maxChunkFailures = 6;
const concurrentJobs = 2;

export type Requester = ImportJob['requestedBy'];

/** Import runs with the rights of whoever asked for it. */
export interface ImportPermissions {
  canPull(who: Requester, repository: string): Promise<boolean>;
  canPush(who: Requester, repository: string): Promise<boolean>;
  /** May see every identity's jobs (the Owner role; everyone with --auth none). */
  seesAllJobs(who: Requester): Promise<boolean>;
}

export interface ImportRequest {
  source: string;
  targetTags?: string[];
  untaggedRepositories?: string[];
  force?: boolean;
  includeReferrers?: boolean;
  credentials?: RemoteCredentials;
}

interface ManifestItem {
  digest: string;
  content: Buffer;
  mediaType: string;
}

/** Where manifests and blobs come from: another registry, or this one (then blobs are mounted). */
interface ImportSource {
  manifest(reference: string): Promise<ManifestItem>;
  referrers(digest: string): Promise<string[]>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * `berth import`: copies an image (every platform of an index, optionally its referrers) from
 * any registry into this one as a durable job. Blobs already here are linked, not fetched; the
 * target tags move only once every manifest and blob is in.
 */
export class ImportService {
  private readonly credentials = new Map<string, RemoteCredentials>();
  private readonly queue: string[] = [];
  private running = 0;
  private stopped = false;
  private readonly active = new Set<Promise<void>>();

  constructor(
    private readonly store: ImportStore,
    private readonly blobs: BlobService,
    private readonly manifests: ManifestService,
    private readonly metadata: MetadataStore,
    private readonly permissions: ImportPermissions,
    private readonly isSelf: (host: string) => boolean,
    private readonly audit: AuditLog,
    private readonly log: FastifyBaseLogger,
    private readonly egress: EgressPolicy,
  ) {}

  /** Resumes jobs a restart interrupted, or fails them clearly when their credentials are gone. */
  async resume(): Promise<void> {
    for (const job of await this.store.unfinishedImports()) {
      if (job.hasCredentials) {
        await this.finish(job, 'failed', 'the server restarted and source credentials are never stored; run the import again');
      } else {
        this.queue.push(job.id);
      }
    }
    this.kick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.allSettled([...this.active]);
  }

  async submit(who: Requester, request: ImportRequest): Promise<ImportJob> {
    const source = parseSourceReference(request.source);
    const targets = (request.targetTags ?? []).map(parseTarget);
    const untagged = [...new Set(request.untaggedRepositories ?? [])];
    for (const repo of untagged) parseTarget(`${repo}:x`);
    if (targets.length === 0 && untagged.length === 0) {
      // As ACR: without targets the image lands under its source name.
      if (source.reference.includes(':')) untagged.push(source.repository);
      else targets.push({ repository: source.repository, tag: source.reference });
    }
    for (const repository of new Set([...targets.map((t) => t.repository), ...untagged])) {
      if (!(await this.permissions.canPush(who, repository))) throw new RegistryError('DENIED', `no push permission on ${repository}`);
    }
    if (this.isSelf(source.registryHost) && !(await this.permissions.canPull(who, source.repository))) {
      throw new RegistryError('DENIED', `no pull permission on ${source.repository}`);
    }
    // What can be told without resolving names (a literal address, a host rule) is refused now;
    // the rest when the job connects.
    if (!this.isSelf(source.registryHost)) {
      try {
        this.egress.checkUrl(new URL(source.registryUrl));
      } catch (error) {
        throw new RegistryError('DENIED', `cannot import from ${source.registryHost}: ${(error as Error).message}`);
      }
    }
    if (!request.force) await this.refuseExistingTags(targets);
    const job: ImportJob = {
      id: randomUUID(),
      source: request.source,
      targetTags: targets.map((t) => `${t.repository}:${t.tag}`),
      untaggedRepositories: untagged,
      force: request.force ?? false,
      includeReferrers: request.includeReferrers ?? false,
      requestedBy: who,
      hasCredentials: request.credentials !== undefined,
      status: 'queued',
      error: null,
      progress: emptyProgress(),
      result: null,
      createdAt: new Date().toISOString(),
      startedAt: null,
      finishedAt: null,
    };
    await this.store.putImport(job);
    if (request.credentials) this.credentials.set(job.id, request.credentials);
    this.queue.push(job.id);
    this.kick();
    return job;
  }

  /** A job, for its requester or anyone who may see it (see `maySee`); others get 404, as for no job. */
  async get(who: Requester, id: string): Promise<ImportJob> {
    const job = await this.store.getImport(id);
    if (!job || !(await this.maySee(who, job, await this.permissions.seesAllJobs(who)))) throw new RegistryError('NOT_FOUND', `import job "${id}" not found`);
    return job;
  }

  /** The newest `limit` jobs `who` may see. */
  async list(who: Requester, limit: number): Promise<ImportJob[]> {
    const all = await this.permissions.seesAllJobs(who);
    const page = Math.max(limit, 100);
    const visible: ImportJob[] = [];
    for (let offset = 0; visible.length < limit; offset += page) {
      const jobs = await this.store.listImports(page, offset);
      for (const job of jobs) if (visible.length < limit && (await this.maySee(who, job, all))) visible.push(job);
      if (jobs.length < page) break;
    }
    return visible;
  }

  /**
   * A job shows its source, targets and errors: it is visible to its requester, to whoever sees
   * all jobs (Owner), and to those who may pull every one of its target repositories (they can
   * read what it brought anyway).
   */
  private async maySee(who: Requester, job: ImportJob, seesAll: boolean): Promise<boolean> {
    if (seesAll || (job.requestedBy.kind === who.kind && job.requestedBy.name === who.name && who.kind !== 'anonymous')) return true;
    const targets = new Set([...job.targetTags.map((t) => parseTarget(t).repository), ...job.untaggedRepositories]);
    if (targets.size === 0) return false;
    for (const repository of targets) if (!(await this.permissions.canPull(who, repository))) return false;
    return true;
  }

  private kick(): void {
    while (!this.stopped && this.running < concurrentJobs && this.queue.length > 0) {
      const id = this.queue.shift()!;
      this.running++;
      const work = this.run(id).finally(() => {
        this.running--;
        this.active.delete(work);
        this.kick();
      });
      this.active.add(work);
    }
  }

  private async run(id: string): Promise<void> {
    const job = await this.store.getImport(id);
    if (!job) return;
    job.status = 'running';
    job.startedAt = new Date().toISOString();
    job.progress = emptyProgress();
    await this.store.putImport(job);
    const actor = job.requestedBy.kind === 'anonymous' ? 'anonymous' : job.requestedBy.name;
    try {
      // Pushes made by the job are the requester's: audit and webhooks see who imported.
      const context = { id: job.id, host: 'berth-import', method: 'IMPORT', userAgent: 'berth-import', address: '', actor };
      await runWithRequestContext(context, () => this.execute(job, this.credentials.get(id) ?? null));
      await this.finish(job, 'succeeded', null);
      const targets = [...job.targetTags, ...job.untaggedRepositories];
      for (const target of new Set(targets.map((t) => parseTarget(t.includes(':') ? t : `${t}:x`).repository))) {
        await this.audit.record({ actor, client: null }, 'image.imported', target, { source: job.source, digest: job.result?.digest, job: job.id });
      }
    } catch (error) {
      this.log.warn({ err: error, import: id }, 'import failed');
      await this.finish(job, 'failed', error instanceof Error ? error.message : String(error));
    } finally {
      this.credentials.delete(id);
    }
  }

  private async finish(job: ImportJob, status: 'succeeded' | 'failed', error: string | null): Promise<void> {
    job.status = status;
    job.error = error;
    job.finishedAt = new Date().toISOString();
    await this.store.putImport(job);
  }

  private async execute(job: ImportJob, credentials: RemoteCredentials | null): Promise<void> {
    const source = parseSourceReference(job.source);
    const self = this.isSelf(source.registryHost);
    const remote = self ? null : new RemoteRegistry(source, credentials, this.egress);
    const from = remote ? this.remoteSource(remote) : this.localSource(source.repository);
    const targets = job.targetTags.map(parseTarget);
    const repositories = [...new Set([...targets.map((t) => t.repository), ...job.untaggedRepositories])];

    // 1. Every manifest, children before the manifests that reference them.
    const top = await from.manifest(source.reference);
    if (source.reference.includes(':') && top.digest !== source.reference) {
      throw new RegistryError('DIGEST_INVALID', `the source sent content for ${top.digest}, not ${source.reference}`);
    }
    // A lock refuses the job before anything is copied; --force overwrites tags, never locks.
    for (const repository of repositories) await this.manifests.assertPushAllowed(repository, null, top.digest);
    for (const target of targets) await this.manifests.assertPushAllowed(target.repository, target.tag, top.digest);
    const items: ManifestItem[] = [];
    const seen = new Set<string>();
    const fetchByDigest = async (digest: string): Promise<ManifestItem> => {
      const item = await from.manifest(digest);
      if (item.digest !== digest) throw new RegistryError('DIGEST_INVALID', `the source sent content for ${item.digest}, not ${digest}`);
      return item;
    };
    const collect = async (item: ManifestItem, depth: number): Promise<void> => {
      if (seen.has(item.digest)) return;
      seen.add(item.digest);
      const parsed = parseManifest(item.content, item.mediaType);
      for (const child of parsed.children.filter((c) => c.kind === 'manifest')) {
        if (depth > 2) throw new RegistryError('MANIFEST_INVALID', 'index nesting is too deep');
        await collect(await fetchByDigest(child.digest), depth + 1);
      }
      items.push(item);
      if (items.length > maxManifests) throw new RegistryError('UNSUPPORTED', `an import holds at most ${maxManifests} manifests`, undefined, { status: 400 });
    };
    await collect(top, 0);
    if (job.includeReferrers) {
      for (const subject of [...items]) {
        for (const digest of await from.referrers(subject.digest)) await collect(await fetchByDigest(digest), 1);
      }
    }

    // 2. Blobs: link what the registry already holds (where the requester may read it), fetch the rest.
    const blobs = new Map<string, number>();
    for (const item of items) {
      for (const child of parseManifest(item.content, item.mediaType).children) if (child.kind === 'blob') blobs.set(child.digest, child.size ?? 0);
    }
    job.progress.manifestsTotal = items.length;
    job.progress.blobsTotal = blobs.size;
    job.progress.bytesTotal = [...blobs.values()].reduce((a, b) => a + b, 0);
    await this.store.putImport(job);
    for (const [digest, size] of blobs) {
      await this.importBlob(job, digest, size, repositories, self ? source.repository : null, remote);
      job.progress.blobsDone++;
      await this.store.putImport(job);
    }

    // 3. Manifests by digest into every target repository, then (last) the tags.
    for (const repository of repositories) {
      for (const item of items) await this.manifests.put(repository, item.digest, item.content, item.mediaType);
    }
    job.progress.manifestsDone = items.length;
    if (!job.force) await this.refuseExistingTags(targets, top.digest);
    for (const target of targets) await this.manifests.put(target.repository, target.tag, top.content, top.mediaType);
    job.result = { digest: top.digest, mediaType: top.mediaType, manifests: items.length };
  }

  private async importBlob(
    job: ImportJob,
    digest: string,
    size: number,
    repositories: string[],
    selfRepository: string | null,
    remote: RemoteRegistry | null,
  ): Promise<void> {
    const missing: string[] = [];
    for (const repository of repositories) {
      if ((await this.metadata.linkedBlobSize(repository, digest)) === null) missing.push(repository);
    }
    if (missing.length === 0) {
      job.progress.bytesDone += size;
      return;
    }
    let holder = selfRepository;
    if (holder === null) {
      for (const candidate of await this.blobs.repositoriesHolding(digest)) {
        if (await this.permissions.canPull(job.requestedBy, candidate)) {
          holder = candidate;
          break;
        }
      }
    }
    if (holder === null) {
      if (!remote) throw new RegistryError('BLOB_UNKNOWN', `blob ${digest} is not in the source repository`);
      await this.download(job, remote, missing[0]!, digest, size);
      holder = missing.shift()!;
    } else {
      job.progress.bytesDone += size;
    }
    for (const repository of missing) {
      if (!(await this.blobs.mount(repository, digest, holder))) throw new RegistryError('BLOB_UNKNOWN', `blob ${digest} is missing from ${holder}`);
    }
  }

  /** Ranged, resumable download: a dropped connection costs at most one chunk. */
  private async download(job: ImportJob, registry: RemoteRegistry, repository: string, digest: string, size: number): Promise<void> {
    let session = await this.blobs.startUpload(repository);
    let failures = 0;
    let lastSaved = Date.now();
    while (session.size < size) {
      const start = session.size;
      const end = Math.min(start + chunkBytes, size) - 1;
      try {
        const { stream, ranged } = await registry.blob(digest, start, end);
        if (!ranged && start > 0) {
          // The source ignores Range: start over with the whole blob.
          stream.destroy();
          await this.blobs.cancelUpload(repository, session.id);
          job.progress.bytesDone -= start;
          session = await this.blobs.startUpload(repository);
          continue;
        }
        const updated = await this.blobs.appendChunk(repository, session.id, stream, null, ranged ? end - start + 1 : size);
        session = updated;
        job.progress.bytesDone += updated.received;
        if (Date.now() - lastSaved > 1000) {
          lastSaved = Date.now();
          await this.store.putImport(job);
        }
      } catch (error) {
        // A refusal (policy, rights) is the same on every attempt.
        if (error instanceof RegistryError && error.code === 'DENIED') throw error;
        if (++failures >= maxChunkFailures) throw new Error(`downloading ${digest} failed ${failures} times: ${(error as Error).message}`);
        this.log.warn({ import: job.id, digest, offset: session.size, failures, err: error }, 'import chunk failed; resuming');
        session = await this.blobs.uploadStatus(repository, session.id);
        await sleep(250 * 2 ** failures);
      }
    }
    await this.blobs.completeUpload(repository, session.id, digest, null, null);
  }

  private async refuseExistingTags(targets: Array<{ repository: string; tag: string }>, allowDigest?: string): Promise<void> {
    for (const target of targets) {
      const existing = (await this.metadata.pushLocks(target.repository, target.tag)).tag;
      if (existing && existing.digest !== allowDigest) {
        // --force would not help a locked tag: say what does.
        if (!existing.writeEnabled) throw lockedError({ kind: 'tag', repository: target.repository, tag: target.tag }, 'writeEnabled');
        throw new RegistryError('CONFLICT', `${target.repository}:${target.tag} already exists; use --force to overwrite it`);
      }
    }
  }

  private remoteSource(registry: RemoteRegistry): ImportSource {
    return {
      async manifest(reference) {
        const fetched = await registry.manifest(reference);
        const parsed = parseManifest(fetched.content, fetched.mediaType);
        return { digest: digestOf(fetched.content), content: fetched.content, mediaType: parsed.mediaType };
      },
      async referrers(digest) {
        return (await registry.referrers(digest)).map((d) => d.digest);
      },
    };
  }

  private localSource(repository: string): ImportSource {
    return {
      manifest: async (reference) => {
        const stored = await this.manifests.get(repository, reference);
        return { digest: stored.digest, content: Buffer.from(stored.content), mediaType: stored.mediaType };
      },
      referrers: async (digest) => (await this.manifests.listReferrers(repository, digest, undefined)).map((r) => r.digest),
    };
  }
}

export type { SourceReference };
