import type { Readable } from 'node:stream';

/** Inclusive byte range, as in HTTP `Range: bytes=start-end`. */
export interface ByteRange {
  start: number;
  end: number;
}

export interface AppendOptions {
  /**
   * The upload's last chunk: the store makes the upload durable before resolving (on the handle it
   * wrote with), so commitUpload has nothing left to flush unless something was written since.
   */
  last?: boolean;
}

/**
 * Content-addressed blob storage shared by every repository, plus the scratch space of
 * in-progress uploads. Implementations must make `commitUpload` and `put` atomic: after a crash a
 * digest names either nothing or the complete content. Digest verification is the caller's job;
 * the store only moves bytes.
 */
export interface BlobStore {
  /** Size in bytes of a committed blob, or null when the store does not hold it. */
  stat(digest: string): Promise<number | null>;
  read(digest: string, range?: ByteRange): Promise<Readable>;
  /** Writes a whole (small) blob atomically. */
  put(digest: string, data: Uint8Array): Promise<void>;
  delete(digest: string): Promise<void>;

  /** Starts an upload; the store may create nothing until the first append (it reads as empty). */
  createUpload(id: string): Promise<void>;
  /**
   * Appends `data` at `offset`, first discarding anything past `offset` (a partial chunk left
   * behind by a crash). Resolves with the new size; durability is only promised by commitUpload.
   */
  appendUpload(id: string, offset: number, data: Readable, options?: AppendOptions): Promise<number>;
  /** The upload's bytes; callers read only when the upload's recorded size is above 0. */
  readUpload(id: string): Promise<Readable>;
  /** Makes a finished upload durable and moves it to `digest`, atomically. */
  commitUpload(id: string, digest: string): Promise<void>;
  deleteUpload(id: string): Promise<void>;
}
