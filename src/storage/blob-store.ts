import type { Readable } from 'node:stream';

/** Inclusive byte range, as in HTTP `Range: bytes=start-end`. */
export interface ByteRange {
  start: number;
  end: number;
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

  createUpload(id: string): Promise<void>;
  /**
   * Appends `data` at `offset`, first discarding anything past `offset` (a partial chunk left
   * behind by a crash). Resolves with the new size; durability is only promised by commitUpload.
   */
  appendUpload(id: string, offset: number, data: Readable): Promise<number>;
  readUpload(id: string): Promise<Readable>;
  /** Makes a finished upload durable and moves it to `digest`, atomically. */
  commitUpload(id: string, digest: string): Promise<void>;
  deleteUpload(id: string): Promise<void>;
}
