import type { IncomingMessage } from 'node:http';
import type { Readable, Stream, Writable } from 'node:stream';

const ignore = (): void => undefined;
const guarded = new WeakSet<Stream>();

/**
 * Makes a stream's errors impossible to leave unhandled. An `'error'` with no listener kills the
 * process, and a client that resets its connection makes its request body emit one at any moment,
 * including while a handler is still awaiting something before it reads. Consumers still see
 * the error: `pipeline`, `finished` and async iteration report a stream that is already errored.
 */
export function guardErrors<T extends Stream>(stream: T): T {
  if (!guarded.has(stream)) {
    guarded.add(stream);
    stream.on('error', ignore);
  }
  return stream;
}

export interface BodyIdlePolicy {
  /** A body that sends nothing for this long is cut off; 0 switches the check off. */
  idleMs: number;
  onIdle?: (request: IncomingMessage) => void;
}

/**
 * Hands a request body over unread (handlers stream it to storage), guarded against errors, and
 * cut off when the client stops sending: a stalled body would otherwise hold its socket and any
 * lock its handler took (an upload session's) for ever. Progress is read off the socket's byte
 * count, so watching costs no 'data' listener and never changes how the body flows.
 */
export function takeStreamedBody(request: IncomingMessage, policy: BodyIdlePolicy): IncomingMessage {
  guardErrors(request);
  if (policy.idleMs > 0 && !request.complete) watchForIdleBody(request, policy);
  return request;
}

function watchForIdleBody(request: IncomingMessage, policy: BodyIdlePolicy): void {
  const socket = request.socket;
  let lastBytes = socket.bytesRead;
  let lastProgress = Date.now();
  const timer = setInterval(() => {
    if (request.complete || request.destroyed) return stop();
    if (socket.bytesRead !== lastBytes) {
      lastBytes = socket.bytesRead;
      lastProgress = Date.now();
      return;
    }
    if (Date.now() - lastProgress < policy.idleMs) return;
    stop();
    policy.onIdle?.(request);
    const error = Object.assign(new Error(`request body idle for ${Math.round(policy.idleMs / 1000)} s`), { code: 'BODY_IDLE_TIMEOUT' });
    request.destroy(error);
    socket.destroy();
  }, Math.min(1000, Math.max(50, Math.floor(policy.idleMs / 4))));
  timer.unref();
  const stop = (): void => clearInterval(timer);
  request.once('end', stop);
  request.once('close', stop);
}

/** A Fastify content-type parser that hands the body over as `takeStreamedBody` does. */
export function streamedBodyParser(policy: BodyIdlePolicy) {
  return (_request: unknown, payload: IncomingMessage, done: (error: Error | null, body?: unknown) => void): void => {
    done(null, takeStreamedBody(payload, policy));
  };
}

/**
 * Fails `target` when `source` fails or closes before its end, including when that already
 * happened: a body reset before its handler read a byte is destroyed by the time it is piped,
 * emits nothing more, and would leave whoever waits on `target` waiting for ever.
 */
export function failWithSource(source: Readable, target: Writable): void {
  guardErrors(source);
  const fail = (): void => {
    if (!source.readableEnded) target.destroy(source.errored ?? Object.assign(new Error('request body aborted'), { code: 'ECONNRESET' }));
  };
  if (source.destroyed) return fail();
  source.once('error', fail);
  source.once('close', fail);
}

/**
 * Reads and drops what is left of a body its handler did not read (a refused or failed upload),
 * so the client receives the answer instead of a broken pipe, and the connection stays usable.
 * Past `maxBytes` the connection is closed instead: nobody is owed a free gigabyte of reading.
 */
export function discardUnreadBody(request: IncomingMessage, maxBytes: number): void {
  if (request.complete || request.destroyed || request.readableEnded) return;
  guardErrors(request);
  const socket = request.socket;
  const start = socket.bytesRead;
  request.unpipe();
  request.on('data', () => {
    if (socket.bytesRead - start > maxBytes) request.destroy();
  });
  request.resume();
}
