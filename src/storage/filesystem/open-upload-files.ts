import { open, type FileHandle } from 'node:fs/promises';
import { SyncAhead } from './batched-file-writer.js';

/** An upload file's handle, held between the upload's requests. */
export interface OpenUploadFile {
  handle: FileHandle;
  syncAhead: SyncAhead;
  /** The file's size as this process wrote it (no fstat per chunk). */
  size: number;
  /** Flushed to disk with nothing written since: the commit has no fsync left to do. */
  durable: boolean;
}

interface Entry {
  path: string;
  file: OpenUploadFile;
  users: number;
  lastUsed: number;
  /** Forgotten (commit, cancel) while in use: closed by its last user instead of kept. */
  dropped: boolean;
}

/** Handles idle this long are closed (an upload whose client went away, or between pushes). */
const idleMs = 60_000;
/** At most this many kept open; past it the least recently used idle one is closed. */
const maxOpen = 256;

/**
 * The upload files' handles, kept open from an upload's first chunk to its commit or cancel. A
 * handle per request cost an open, a close and an fstat per chunk, each a thread-pool round trip
 * queued behind the writes and background flushes of every upload in progress: 3 to 25 ms per
 * 8 MiB chunk during two 256 MiB pushes at once (~10% of the chunk). The handle also carries the
 * file's one background flush (SyncAhead), which closing per request would wait for. Idle handles
 * are closed when the next upload comes by, so no timer runs; a handle of an abandoned upload
 * lasts until then, or until its upload is cancelled or cleaned up.
 */
export class OpenUploadFiles {
  /** In order of last use, oldest first (a Map keeps insertion order; use re-inserts). */
  private readonly entries = new Map<string, Entry>();
  private readonly entryOf = new WeakMap<OpenUploadFile, Entry>();

  /**
   * The open file of `path`, opened when this process holds none: at offset 0 created or emptied,
   * else as it is on disk. Give it back with `release` when the request is done with it.
   */
  async acquire(path: string, offset: number): Promise<OpenUploadFile> {
    this.closeIdle();
    const entry = this.entries.get(path);
    if (entry) {
      this.entries.delete(path);
      this.entries.set(path, entry);
      entry.users++;
      return entry.file;
    }
    const handle = await open(path, offset === 0 ? 'w' : 'r+');
    const size = offset === 0 ? 0 : (await handle.stat().catch(async (error: unknown) => {
      await handle.close();
      throw error;
    })).size;
    const file: OpenUploadFile = { handle, syncAhead: new SyncAhead(handle), size, durable: false };
    // Two requests of one upload never overlap (BlobService serializes them), so no entry can have
    // appeared meanwhile.
    const created: Entry = { path, file, users: 1, lastUsed: Date.now(), dropped: false };
    this.entries.set(path, created);
    this.entryOf.set(file, created);
    return file;
  }

  /** Done with the file for now: it stays open for the upload's next request. */
  async release(file: OpenUploadFile): Promise<void> {
    const entry = this.entryOf.get(file)!;
    entry.users--;
    entry.lastUsed = Date.now();
    if (entry.dropped && entry.users === 0) await this.close(entry);
  }

  /**
   * Hands the file over to the caller, who closes it (a commit flushes through it first). Null
   * when this process holds no handle, or one still in use (then closed by its last user).
   */
  take(path: string): OpenUploadFile | null {
    const entry = this.entries.get(path);
    if (!entry) return null;
    this.entries.delete(path);
    if (entry.users === 0) return entry.file;
    entry.dropped = true;
    return null;
  }

  /** Closes and forgets the file (a cancel), after whoever still uses it. */
  async drop(path: string): Promise<void> {
    await this.take(path)?.handle.close();
  }

  private closeIdle(): void {
    const now = Date.now();
    for (const entry of this.entries.values()) {
      const idle = entry.users === 0;
      if (idle && (now - entry.lastUsed >= idleMs || this.entries.size >= maxOpen)) {
        void this.close(entry).catch(() => undefined);
        continue;
      }
      // Oldest first: once one is recent enough and the cap is not reached, so are the rest.
      if (this.entries.size < maxOpen) break;
    }
  }

  private async close(entry: Entry): Promise<void> {
    if (this.entries.get(entry.path) === entry) this.entries.delete(entry.path);
    await entry.file.handle.close();
  }
}
