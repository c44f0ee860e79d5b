import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { AppendOptions, BlobStore, ByteRange } from '../blob-store.js';
import { guardErrors } from '../../streams/request-body.js';
import { BatchedFileWriter } from './batched-file-writer.js';
import { OpenUploadFiles } from './open-upload-files.js';
import { FileReadStream } from './file-read-stream.js';
import { syncPath } from './file-sync.js';

const digestShape = /^(sha256|sha512):([a-f0-9]{64}|[a-f0-9]{128})$/;
const uploadIdShape = /^[a-f0-9-]{36}$/;
/** Every two-hex-digit folder a sha256 blob can land in (all created up front, see init). */
const sha256Shards = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/**
 * Blobs on a local filesystem: `blobs/<alg>/<2 hex>/<hex>`; uploads in `uploads/<id>`; atomic
 * writes go through `tmp/` (same filesystem, so rename is atomic) with fsync of file and folder.
 */
export class FilesystemBlobStore implements BlobStore {
  private readonly blobsDir: string;
  private readonly uploadsDir: string;
  private readonly tmpDir: string;
  private readonly knownDirs = new Set<string>();
  private readonly openUploads = new OpenUploadFiles();

  constructor(root: string) {
    this.blobsDir = join(root, 'blobs');
    this.uploadsDir = join(root, 'uploads');
    this.tmpDir = join(root, 'tmp');
  }

  async init(): Promise<void> {
    for (const dir of [this.blobsDir, this.uploadsDir, this.tmpDir]) await mkdir(dir, { recursive: true });
    // Leftovers of writes interrupted by a crash are never visible under a digest; drop them.
    await rm(this.tmpDir, { recursive: true, force: true });
    await mkdir(this.tmpDir, { recursive: true });
    await this.createShards('sha256', sha256Shards);
  }

  /**
   * Creates a digest algorithm's shard folders that are missing, durably (the parent is synced).
   * Up front for sha256, so a push never waits for a mkdir; a folder created on demand would
   * also need its parent synced before its first blob counts as stored.
   */
  private async createShards(algorithm: string, shards: string[]): Promise<void> {
    const parent = join(this.blobsDir, algorithm);
    await mkdir(parent, { recursive: true });
    const present = new Set(await readdir(parent));
    const missing = shards.filter((shard) => !present.has(shard));
    await Promise.all(missing.map((shard) => mkdir(join(parent, shard), { recursive: true })));
    if (missing.length > 0) {
      await syncPath(parent);
      await syncPath(this.blobsDir);
    }
    for (const shard of shards) this.knownDirs.add(join(parent, shard));
  }

  async stat(digest: string): Promise<number | null> {
    try {
      return (await stat(this.blobPath(digest))).size;
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
  }

  async read(digest: string, range?: ByteRange): Promise<Readable> {
    // Opened here, so a missing file fails the call rather than the stream.
    const handle = await open(this.blobPath(digest), 'r');
    return new FileReadStream(handle, range?.start ?? 0, range?.end ?? Infinity);
  }

  async put(digest: string, data: Uint8Array): Promise<void> {
    const tmp = join(this.tmpDir, randomUUID());
    const handle = await open(tmp, 'w');
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await this.moveIntoPlace(tmp, digest);
  }

  async delete(digest: string): Promise<void> {
    await rm(this.blobPath(digest), { force: true });
  }

  async createUpload(id: string): Promise<void> {
    // Only checked: the file is created by the first chunk (or at commit, for an empty blob), which
    // spares every upload two thread-pool round trips. Until then it reads as empty.
    this.uploadPath(id);
  }

  async appendUpload(id: string, offset: number, data: Readable, options: AppendOptions = {}): Promise<number> {
    const path = this.uploadPath(id);
    guardErrors(data);
    // Kept open across the upload's chunks (see OpenUploadFiles): the first chunk creates the file.
    const file = await this.openUploads.acquire(path, offset);
    try {
      file.durable = false;
      // Bytes past the offset (a chunk cut short by a crash, or refused) go first.
      if (file.size > offset) {
        await file.handle.truncate(offset);
        file.size = offset;
      }
      // No fsync per chunk: bytes lost to a power cut are caught when the digest is verified at
      // completion (the hash is rebuilt from disk after a restart). commitUpload syncs once.
      const out = new BatchedFileWriter(file.handle, offset, file.syncAhead);
      try {
        await pipeline(data, out);
      } catch (error) {
        // A failed chunk never counts, so its bytes are only taking space (a full disk, an abort).
        await out.idle();
        await file.handle.truncate(offset).then(
          () => void (file.size = offset),
          // The size is unknown now: the next chunk reopens the file and reads it from disk.
          () => this.openUploads.drop(path),
        );
        throw error;
      }
      file.size = offset + out.bytesWritten;
      if (options.last) {
        await file.handle.sync();
        file.durable = true;
      }
      return file.size;
    } finally {
      await this.openUploads.release(file);
    }
  }

  async readUpload(id: string): Promise<Readable> {
    return createReadStream(this.uploadPath(id));
  }

  async commitUpload(id: string, digest: string): Promise<void> {
    const path = this.uploadPath(id);
    const file = this.openUploads.take(path);
    if (file === null) await syncOrCreate(path);
    else {
      try {
        if (!file.durable) await file.handle.sync();
      } finally {
        await file.handle.close();
      }
    }
    await this.moveIntoPlace(path, digest);
  }

  async deleteUpload(id: string): Promise<void> {
    await this.openUploads.drop(this.uploadPath(id)).catch(() => undefined);
    try {
      await unlink(this.uploadPath(id));
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }

  private async moveIntoPlace(source: string, digest: string): Promise<void> {
    const target = this.blobPath(digest);
    const dir = target.slice(0, target.lastIndexOf('/'));
    if (!this.knownDirs.has(dir)) {
      const match = digestShape.exec(digest)!;
      await this.createShards(match[1]!, [match[2]!.slice(0, 2)]);
    }
    await rename(source, target);
    await syncPath(dir);
  }

  private blobPath(digest: string): string {
    const match = digestShape.exec(digest);
    if (!match) throw new Error(`not a digest: ${digest}`);
    const [, algorithm, hex] = match as unknown as [string, string, string];
    return join(this.blobsDir, algorithm, hex.slice(0, 2), hex);
  }

  private uploadPath(id: string): string {
    if (!uploadIdShape.test(id)) throw new Error(`not an upload id: ${id}`);
    return join(this.uploadsDir, id);
  }
}

/** Flushes an upload's file to disk; an upload that never received a byte has none yet, so it gets an empty one. */
async function syncOrCreate(path: string): Promise<void> {
  try {
    await syncPath(path);
  } catch (error) {
    if (!isNotFound(error)) throw error;
    const handle = await open(path, 'w');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }
}

function isNotFound(error: unknown): boolean {
  return (error as NodeJS.ErrnoException)?.code === 'ENOENT';
}
