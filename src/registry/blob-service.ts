import { randomUUID, type Hash } from 'node:crypto';
import { Readable, Transform } from 'node:stream';
import { failWithSource, guardErrors } from '../streams/request-body.js';
import type { BlobStore, ByteRange } from '../storage/blob-store.js';
import type { MetadataStore, UploadSession } from '../metadata/metadata-store.js';
import type { RegistryEvents } from '../events/registry-events.js';
import { isStorageFull, RegistryError } from './errors.js';
import { assertRepositoryName, isRepositoryName, parseDigest } from './reference.js';
import { newHash } from './digest.js';
import { lockedError } from './locks.js';

export interface BlobContent {
  size: number;
  /** Null for HEAD-style lookups that need no bytes. */
  open(range?: ByteRange): Promise<Readable>;
}

interface RunningHash {
  hash: Hash;
  offset: number;
}

/** Hash states kept in memory for fast completion; beyond this many the oldest are rebuilt from disk. */
const maxRunningHashes = 4096;

/**
 * Blob reads, uploads (monolithic, chunked, resumable across restarts) and cross-repository
 * mounts. Bytes go to the BlobStore; which repository may serve which blob goes to the
 * MetadataStore. Every committed blob has been verified against its digest.
 */
export class BlobService {
  private readonly runningHashes = new Map<string, RunningHash>();
  private readonly uploadLocks = new Map<string, Promise<unknown>>();

  constructor(
    private readonly blobs: BlobStore,
    private readonly metadata: MetadataStore,
    private readonly events: RegistryEvents,
  ) {}

  async stat(repository: string, digest: string): Promise<BlobContent> {
    assertRepositoryName(repository);
    parseDigest(digest);
    // Touch before reading the link: a client that hears "exists" may skip the upload, so the
    // collector must not take the blob after this (see docs/ARCHITECTURE.md, Garbage collection).
    // A full disk skips it: reads must keep working, and while the database takes no writes no
    // manifest can be pushed on the strength of this answer, nor can the collector remove anything.
    await this.metadata.touchBlobs([digest]).catch((error: unknown) => {
      if (!isStorageFull(error)) throw error;
    });
    // The repository's read lock comes with the link, in the same query.
    const linked = await this.metadata.linkedBlob(repository, digest);
    if (linked && !linked.repositoryReadEnabled) throw lockedError({ kind: 'repository', repository }, 'readEnabled');
    if (linked) return { size: linked.size, open: (range) => this.blobs.read(digest, range) };
    // Manifests are content too; Distribution serves them on the blob endpoint, and so do we.
    const manifest = await this.metadata.getManifest(repository, digest);
    if (manifest) {
      if (manifest.readEnabled?.repository === false) throw lockedError({ kind: 'repository', repository }, 'readEnabled');
      if (manifest.readEnabled?.manifest === false) throw lockedError({ kind: 'manifest', repository, digest }, 'readEnabled');
      const bytes = Buffer.from(manifest.content);
      return {
        size: bytes.length,
        open: async (range) => Readable.from(range ? bytes.subarray(range.start, range.end + 1) : bytes),
      };
    }
    throw new RegistryError('BLOB_UNKNOWN', 'blob unknown to registry', { digest });
  }

  async delete(repository: string, digest: string): Promise<void> {
    assertRepositoryName(repository);
    parseDigest(digest);
    // Only the repository's link goes; bytes stay for the garbage collector, since other
    // repositories may share them.
    if (!(await this.metadata.unlinkBlob(repository, digest))) {
      throw new RegistryError('BLOB_UNKNOWN', 'blob unknown to registry', { digest });
    }
    this.events.emit('blob.deleted', { repository, digest });
  }

  /** Repositories that hold `digest`, as mount sources when a client names none (OCI 1.1). */
  async repositoriesHolding(digest: string): Promise<string[]> {
    parseDigest(digest);
    return this.metadata.repositoriesWithBlob(digest, 20);
  }

  /** Links a blob `from` holds into `repository`. False when there is nothing to mount. */
  async mount(repository: string, digest: string, from: string): Promise<boolean> {
    assertRepositoryName(repository);
    parseDigest(digest);
    if (!isRepositoryName(from)) return false;
    await this.metadata.touchBlobs([digest]);
    // A read-locked source cannot be pulled, so it cannot lend its blobs either (the client uploads).
    const linked = await this.metadata.linkedBlob(from, digest);
    if (linked === null || !linked.repositoryReadEnabled || (await this.blobs.stat(digest)) === null) return false;
    await this.metadata.linkBlob(repository, digest, linked.size);
    this.events.emit('blob.mounted', { repository, digest, from });
    return true;
  }

  async startUpload(repository: string): Promise<UploadSession> {
    assertRepositoryName(repository);
    const at = new Date().toISOString();
    const session: UploadSession = { id: randomUUID(), repository, size: 0, createdAt: at, updatedAt: at };
    await this.blobs.createUpload(session.id);
    try {
      await this.metadata.createUpload(session);
    } catch (error) {
      await this.blobs.deleteUpload(session.id).catch(() => undefined);
      throw error;
    }
    return session;
  }

  async uploadStatus(repository: string, id: string): Promise<UploadSession> {
    return this.session(repository, id);
  }

  /**
   * Appends one chunk. `range` (from Content-Range) must start where the session ends;
   * `contentLength`, when the client sent one, must match what arrived. A chunk is all or nothing:
   * the session size only moves once its bytes are durable.
   */
  async appendChunk(
    repository: string,
    id: string,
    data: Readable,
    range: ByteRange | null,
    contentLength: number | null,
  ): Promise<UploadSession & { received: number }> {
    return this.withUploadLock(id, async () => {
      const session = await this.session(repository, id);
      if (range && range.start !== session.size) {
        data.resume();
        throw rangeError(session, 'chunk does not start where the upload ends');
      }
      if (range && contentLength !== null && contentLength !== range.end - range.start + 1) {
        data.resume();
        throw rangeError(session, `Content-Range covers ${range.end - range.start + 1} bytes but Content-Length is ${contentLength}`);
      }
      const updated = await this.append(session, data, contentLength, range ? range.end - range.start + 1 : null);
      return { ...updated, received: updated.size - session.size };
    });
  }

  /** Finishes an upload (optionally with a last chunk), verifies the digest and commits the blob. */
  async completeUpload(
    repository: string,
    id: string,
    digest: string,
    data: Readable | null,
    contentLength: number | null,
  ): Promise<{ digest: string; size: number; received: number }> {
    return this.withUploadLock(id, async () => {
      let session = await this.session(repository, id);
      const sizeBefore = session.size;
      let algorithm;
      try {
        ({ algorithm } = parseDigest(digest));
      } catch (error) {
        data?.resume();
        throw error;
      }
      // The session row is about to go, so the last chunk's size is not recorded separately.
      if (data && (contentLength === null || contentLength > 0)) session = await this.append(session, data, contentLength, null, true);
      const actual = await this.computeDigest(session, algorithm);
      if (actual !== digest) {
        throw new RegistryError('DIGEST_INVALID', 'provided digest did not match uploaded content', { expected: digest, actual });
      }
      // Before the bytes move into place: a collector sweeping this digest right now finishes
      // first (its transaction holds the row), and the file we then write stays.
      await this.metadata.touchBlobs([digest]);
      await this.blobs.commitUpload(id, digest);
      await this.metadata.finishUpload(session, digest);
      this.runningHashes.delete(id);
      this.events.emit('blob.pushed', { repository, digest, size: session.size });
      return { digest, size: session.size, received: session.size - sizeBefore };
    });
  }

  /** Single-request push: POST with `?digest=` and the whole blob as body. */
  async pushMonolithic(
    repository: string,
    digest: string,
    data: Readable,
    contentLength: number | null,
  ): Promise<{ digest: string; size: number; received: number }> {
    try {
      parseDigest(digest);
    } catch (error) {
      data.resume();
      throw error;
    }
    const session = await this.startUpload(repository);
    try {
      return await this.completeUpload(repository, session.id, digest, data, contentLength);
    } catch (error) {
      await this.cancelUpload(repository, session.id).catch(() => undefined);
      throw error;
    }
  }

  async cancelUpload(repository: string, id: string): Promise<void> {
    await this.session(repository, id);
    // The bytes first: when the database cannot take the delete (a full disk), the space held by
    // the upload is what must come back, and a session without its file reads as empty.
    this.runningHashes.delete(id);
    await this.blobs.deleteUpload(id);
    await this.metadata.deleteUpload(id);
  }

  private async session(repository: string, id: string): Promise<UploadSession> {
    assertRepositoryName(repository);
    const session = /^[a-f0-9-]{36}$/.test(id) ? await this.metadata.getUpload(id) : null;
    if (!session || session.repository !== repository) {
      throw new RegistryError('BLOB_UPLOAD_UNKNOWN', 'blob upload unknown to registry', { id });
    }
    return session;
  }

  private async append(
    session: UploadSession,
    data: Readable,
    contentLength: number | null,
    rangeLength: number | null,
    /** The completing chunk: made durable as it is written, and its size not recorded (the session row goes). */
    last = false,
  ): Promise<UploadSession> {
    const running = this.hashFor(session);
    const tap = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        running?.hash.update(chunk);
        callback(null, chunk);
      },
    });
    this.runningHashes.delete(session.id);
    // A source that fails mid-stream (an aborted PATCH, a dropped import download) fails the
    // tap, and the store's pipeline reports it; the tap's errors count as handled from here on,
    // while the store is still preparing the file. pipe(), unlike pipeline, leaves the source
    // alive when the store fails (a full disk), so the client still gets an answer.
    failWithSource(data, tap);
    const newSize = await this.blobs.appendUpload(session.id, session.size, data.pipe(guardErrors(tap)), { last });
    const received = newSize - session.size;
    const expected = contentLength ?? rangeLength;
    if (expected !== null && received !== expected) {
      throw new RegistryError('SIZE_INVALID', 'received size does not match the declared length', { expected, received }, {
        status: rangeLength !== null && contentLength === null ? 416 : 400,
      });
    }
    if (!last) await this.metadata.setUploadSize(session.id, newSize);
    if (running) this.rememberHash(session.id, { hash: running.hash, offset: newSize });
    return { ...session, size: newSize, updatedAt: new Date().toISOString() };
  }

  private hashFor(session: UploadSession): RunningHash | null {
    const existing = this.runningHashes.get(session.id);
    if (existing && existing.offset === session.size) return existing;
    if (session.size === 0) return { hash: newHash('sha256'), offset: 0 };
    return null; // lost (restart or eviction): rebuilt from the stored bytes at completion
  }

  private rememberHash(id: string, state: RunningHash): void {
    if (this.runningHashes.size >= maxRunningHashes) {
      const oldest = this.runningHashes.keys().next().value;
      if (oldest !== undefined) this.runningHashes.delete(oldest);
    }
    this.runningHashes.set(id, state);
  }

  private async computeDigest(session: UploadSession, algorithm: 'sha256' | 'sha512'): Promise<string> {
    const running = this.runningHashes.get(session.id);
    if (algorithm === 'sha256' && running && running.offset === session.size) {
      return `sha256:${running.hash.copy().digest('hex')}`;
    }
    const hash = newHash(algorithm);
    let remaining = session.size;
    // An upload that never received a byte may have no file in the store (see BlobStore.createUpload).
    if (remaining > 0) for await (const chunk of await this.blobs.readUpload(session.id)) {
      const buffer = chunk as Buffer;
      // The file may hold a partial chunk past the recorded size (a crash mid-PATCH); ignore it.
      const take = Math.min(buffer.length, remaining);
      hash.update(take === buffer.length ? buffer : buffer.subarray(0, take));
      remaining -= take;
      if (remaining === 0) break;
    }
    return `${algorithm}:${hash.digest('hex')}`;
  }

  private async withUploadLock<T>(id: string, work: () => Promise<T>): Promise<T> {
    const previous = this.uploadLocks.get(id) ?? Promise.resolve();
    const current = previous.catch(() => undefined).then(work);
    this.uploadLocks.set(id, current);
    try {
      return await current;
    } finally {
      if (this.uploadLocks.get(id) === current) this.uploadLocks.delete(id);
    }
  }
}

export function uploadRangeHeader(size: number): string {
  return `0-${Math.max(size - 1, 0)}`;
}

function rangeError(session: UploadSession, message: string): RegistryError {
  return new RegistryError('BLOB_UPLOAD_INVALID', message, { size: session.size }, {
    status: 416,
    headers: {
      Range: uploadRangeHeader(session.size),
      Location: `/v2/${session.repository}/blobs/uploads/${session.id}`,
      'Docker-Upload-UUID': session.id,
    },
  });
}
