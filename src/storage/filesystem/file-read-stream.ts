import { ServerResponse } from 'node:http';
import type { FileHandle } from 'node:fs/promises';
import { Readable, type Writable } from 'node:stream';

/** Bytes per read: fewer syscalls and event-loop turns per blob on the hottest read path. */
const readSize = 1024 * 1024;
/** Read buffers kept for reuse between responses (each response in flight holds two). */
const maxPooled = 16;
const pool: Buffer[] = [];

/**
 * A file's bytes `start..end` (inclusive) as a Readable, like fs.createReadStream with 1 MiB
 * reads, except when piped into an HTTP response (how Fastify sends it): then it reads into three
 * 1 MiB buffers in turn, ahead of the socket, and reuses them for the next response.
 * A fresh 1 MiB buffer per read (what a read stream does) cost half the server's CPU per MiB on
 * large pulls: page faults on every new buffer, and V8 collecting after every few hundred MiB of
 * external memory. Reuse is only safe when the destination is done with a chunk once its write
 * callback has run, which an HTTP response is (its socket has handed the bytes to the kernel);
 * any other consumer gets fresh buffers, as from any stream.
 */
export class FileReadStream extends Readable {
  private position: number;
  private piping = false;

  constructor(
    private readonly handle: FileHandle,
    start: number,
    private readonly end: number,
  ) {
    super({ highWaterMark: readSize });
    this.position = start;
  }

  override _read(): void {
    const length = Math.min(readSize, this.end + 1 - this.position);
    if (length <= 0) return void this.push(null);
    this.handle.read(Buffer.allocUnsafeSlow(length), 0, length, this.position).then(({ bytesRead, buffer }) => {
      this.position += bytesRead;
      this.push(bytesRead === 0 ? null : buffer.subarray(0, bytesRead));
    }, (error: Error) => this.destroy(error));
  }

  override pipe<T extends NodeJS.WritableStream>(destination: T, options?: { end?: boolean }): T {
    if (!(destination instanceof ServerResponse) || this.piping || this.readableFlowing !== null) return super.pipe(destination, options);
    this.piping = true;
    this.sendTo(destination, options?.end !== false).then(
      () => {
        // Ends as any stream does, for whoever waits on it (Fastify does).
        this.push(null);
        this.resume();
      },
      (error: Error) => this.destroy(error),
    );
    return destination;
  }

  private async sendTo(response: Writable, end: boolean): Promise<void> {
    // Three buffers: one the socket is sending, one queued behind it (so the socket never waits
    // for a JavaScript turn between chunks), one being read. A buffer is read into again only
    // once the response is done with it; that is also the backpressure (3 MiB at most queued).
    const free = [takeBuffer(), takeBuffer(), takeBuffer()];
    const writes: Promise<void>[] = [];
    while (!this.destroyed && !response.destroyed) {
      // Writes end in order; the queue may still hold some that ended (their buffers are free).
      while (free.length === 0) await writes.shift();
      const buffer = free.pop()!;
      const bytes = await this.readAt(buffer);
      if (bytes === 0) {
        free.push(buffer);
        break;
      }
      writes.push(quiet(writeChunk(response, buffer, bytes).then(() => void free.push(buffer))));
    }
    await Promise.all(writes);
    // Only buffers no read and no write uses go back; on a failure above, none do.
    for (const buffer of free) giveBack(buffer);
    if (end && !this.destroyed) response.end();
  }

  /** Reads the next part into `buffer`: its byte count, 0 at the end. */
  private async readAt(buffer: Buffer): Promise<number> {
    const length = Math.min(buffer.length, this.end + 1 - this.position);
    if (length <= 0) return 0;
    const { bytesRead } = await this.handle.read(buffer, 0, length, this.position);
    this.position += bytesRead;
    return bytesRead;
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.handle.close().then(
      () => callback(error),
      (closeError: Error) => callback(error ?? closeError),
    );
  }
}

/** Marks a promise handled (it is awaited later, possibly after it failed), and returns it. */
function quiet<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}

/** Resolves once the response is done with the chunk (its socket took the bytes). */
function writeChunk(response: Writable, buffer: Buffer, bytes: number): Promise<void> {
  return new Promise((resolve, reject) => {
    response.write(bytes === buffer.length ? buffer : buffer.subarray(0, bytes), (error) => (error ? reject(error) : resolve()));
  });
}

function takeBuffer(): Buffer {
  return pool.pop() ?? Buffer.allocUnsafeSlow(readSize);
}

function giveBack(buffer: Buffer): void {
  if (pool.length < maxPooled) pool.push(buffer);
}
