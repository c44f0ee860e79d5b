import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm, stat, unlink } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { BlobStore, ByteRange } from '../blob-store.js';
import { guardErrors } from '../../streams/request-body.js';
import { BatchedFileWriter } from './batched-file-writer.js';
import { FileReadStream } from './file-read-stream.js';
import { syncPath } from './file-sync.js';

const digestShape = /^(sha256|sha512):([a-f0-9]{64}|[a-f0-9]{128})$/;
const uploadIdShape = /^[a-f0-9-]{36}$/;

/**
 * Blobs on a local filesystem: `blobs/<alg>/<2 hex>/<hex>`; uploads in `uploads/<id>`; atomic
 * writes go through `tmp/` (same filesystem, so rename is atomic) with fsync of file and folder.
 */
export class FilesystemBlobStore implements BlobStore {
  private readonly blobsDir: string;
  private readonly uploadsDir: string;
  private readonly tmpDir: string;
  private readonly knownDirs = new Set<string>();

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
    const handle = await open(this.uploadPath(id), 'w');
    await handle.close();
  }

  async appendUpload(id: string, offset: number, data: Readable): Promise<number> {
    const path = this.uploadPath(id);
    guardErrors(data);
    // One handle for the whole chunk: truncate, the writes, and the truncate of a failure.
    const handle = await open(path, 'r+');
    try {
      // Bytes past the offset (a chunk cut short by a crash) go. Only when there are any: a
      // truncate is a metadata write of the inode, which the previous chunk's background flush
      // (see BatchedFileWriter) may still be writing out.
      if ((await handle.stat()).size > offset) await handle.truncate(offset);
      // No fsync per chunk: bytes lost to a power cut are caught when the digest is verified at
      // completion (the hash is rebuilt from disk after a restart). commitUpload syncs once.
      const out = new BatchedFileWriter(handle, offset, path);
      try {
        await pipeline(data, out);
      } catch (error) {
        // A failed chunk never counts, so its bytes are only taking space (a full disk, an abort).
        await out.idle();
        await handle.truncate(offset).catch(() => undefined);
        throw error;
      }
      return offset + out.bytesWritten;
    } finally {
      await handle.close();
    }
  }

  async readUpload(id: string): Promise<Readable> {
    return createReadStream(this.uploadPath(id));
  }

  async commitUpload(id: string, digest: string): Promise<void> {
    const path = this.uploadPath(id);
    await syncPath(path);
    await this.moveIntoPlace(path, digest);
  }

  async deleteUpload(id: string): Promise<void> {
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
      await mkdir(dir, { recursive: true });
      this.knownDirs.add(dir);
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

function isNotFound(error: unknown): boolean {
  return (error as NodeJS.ErrnoException)?.code === 'ENOENT';
}
