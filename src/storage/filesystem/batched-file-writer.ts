import type { FileHandle } from 'node:fs/promises';
import { Writable } from 'node:stream';

/** Bytes gathered before a write: request bodies arrive in ~64 KiB socket reads. */
const batchSize = 1024 * 1024;
/** Bytes written before the file is flushed to disk in the background (see SyncAhead). */
const syncAheadBytes = 8 * 1024 * 1024;

/**
 * Writes a stream into an open file from `start` on, in ~1 MiB `writev`s of the chunks as they
 * came (no copy), with one write in flight while the next batch gathers. A write per socket
 * read (what fs.createWriteStream does) cost a threadpool round trip and a syscall per 64 KiB,
 * and the main thread (which hashes the same chunks upstream) waited on each; now the hashing
 * of one batch overlaps the disk write of the one before. Backpressure: a full batch waits for
 * the write before it, so at most two batches are held.
 */
export class BatchedFileWriter extends Writable {
  /** Bytes the file has received (only counted once a write has completed). */
  bytesWritten = 0;
  private batch: Buffer[] = [];
  private batchBytes = 0;
  private position: number;
  private inFlight: Promise<void> = Promise.resolve();

  /** `syncAhead`: the file's background flushes, told of every write (one per file, shared by its writers). */
  constructor(
    private readonly handle: FileHandle,
    start: number,
    private readonly syncAhead: SyncAhead | null,
  ) {
    super({ highWaterMark: batchSize });
    this.position = start;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (chunk.length > 0) this.batch.push(chunk);
    this.batchBytes += chunk.length;
    if (this.batchBytes < batchSize) return callback();
    this.flush().then(() => callback(), callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.flushLast().then(() => callback(), callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // The caller may truncate or close the file once the stream is gone: let the last write land.
    this.idle().then(() => callback(error));
  }

  /** Resolves once no write is in flight (whatever its outcome). */
  idle(): Promise<void> {
    return this.inFlight.catch(() => undefined);
  }

  /**
   * The last batch goes to the file beside the write still in flight, not after it (the two cover
   * different bytes): the answer to a chunk waits for one write, not two in turn. On a chunked
   * push that is once per request, where the bare limit's single stream pays it once per blob.
   * Resolves once both have landed; the first failure is reported, after both have settled.
   */
  private async flushLast(): Promise<void> {
    const previous = this.inFlight;
    if (this.batchBytes > 0) {
      this.inFlight = Promise.allSettled([previous, this.startWrite()]).then(([before, last]) => {
        if (before.status === 'rejected') throw before.reason;
        if (last.status === 'rejected') throw last.reason;
      });
      this.inFlight.catch(() => undefined);
    }
    await this.inFlight;
  }

  /** Takes the gathered batch and starts writing it at the next position; its promise counts the bytes once written. */
  private startWrite(): Promise<void> {
    const buffers = this.batch;
    const length = this.batchBytes;
    const position = this.position;
    this.batch = [];
    this.batchBytes = 0;
    this.position += length;
    const write = writeAll(this.handle, buffers, position).then(() => {
      this.bytesWritten += length;
      this.syncAhead?.wrote(length);
    });
    write.catch(() => undefined);
    return write;
  }

  /** Waits for the previous write (its error fails this one), then starts writing the batch. */
  private async flush(): Promise<void> {
    await this.inFlight;
    if (this.batchBytes === 0) return;
    // Not awaited here: the next batch gathers meanwhile. Its failure is reported by the next
    // flush or by _final (startWrite only keeps it from counting as unhandled until then).
    this.inFlight = this.startWrite();
  }
}

/**
 * Starts writing a file's dirty pages to disk while more bytes are still arriving, one flush at a
 * time, not waited for. The fsync that makes a blob durable (when its upload completes) then has
 * little left to write, instead of the whole layer at once after the last byte (256 MiB took ~1 s
 * here, with the disk idle until then). Its errors are the final fsync's to report: a failed
 * flush leaves the pages dirty, and that fsync fails on them.
 * One per file, however many writers it has: each chunk of a chunked upload gets a writer of its
 * own, and an 8 MiB chunk ends just as its flush starts. With a flusher per writer, the next chunk
 * started a second flush of the same file beside the first, and at two uploads at once those
 * flushes held every thread of the pool while the chunks' writes queued behind them.
 * On the file's own handle: whoever closes it waits for a flush in flight (FileHandle.close does),
 * so the handle must outlive the requests that write to it (see OpenUploadFiles).
 */
export class SyncAhead {
  private unsynced = 0;
  private flushing = false;

  constructor(private readonly handle: FileHandle) {}

  /** Counts bytes written to the file; past 8 MiB not yet flushed, starts a flush unless one runs. */
  wrote(bytes: number): void {
    this.unsynced += bytes;
    if (this.unsynced < syncAheadBytes || this.flushing) return;
    this.flushing = true;
    this.unsynced = 0;
    const done = (): void => void (this.flushing = false);
    this.handle.datasync().then(done, done);
  }
}

/** `writev` until every byte is written (a regular file may take less than asked). */
async function writeAll(handle: FileHandle, buffers: Buffer[], position: number): Promise<void> {
  let rest = buffers;
  while (rest.length > 0) {
    const { bytesWritten } = await handle.writev(rest, position);
    if (bytesWritten === 0) throw Object.assign(new Error('file write made no progress'), { code: 'EIO' });
    position += bytesWritten;
    rest = dropBytes(rest, bytesWritten);
  }
}

function dropBytes(buffers: Buffer[], count: number): Buffer[] {
  let i = 0;
  while (i < buffers.length && count >= buffers[i]!.length) count -= buffers[i++]!.length;
  const rest = buffers.slice(i);
  if (count > 0) rest[0] = rest[0]!.subarray(count);
  return rest;
}
