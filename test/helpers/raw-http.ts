import { connect, type Socket } from 'node:net';
import { basicAuth, type Credentials } from './oci-client.js';

export interface RawRequest {
  method: string;
  path: string;
  headers?: Record<string, string>;
  credentials?: Credentials | null;
}

/** Opens a loopback connection to `base` and writes a request head; the body is the caller's. */
export function openRawRequest(base: string, request: RawRequest): Promise<Socket> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname, () => {
      const headers: Record<string, string> = { Host: url.host, ...request.headers };
      if (request.credentials) headers.Authorization = basicAuth(request.credentials);
      const head = [`${request.method} ${request.path} HTTP/1.1`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)].join('\r\n');
      socket.write(`${head}\r\n\r\n`);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/**
 * Sends a request head and `bodyBytes` of a larger announced body, then resets the connection
 * (TCP RST, as a killed client does) once `resetAfter` resolves.
 */
export async function resetMidRequest(base: string, request: RawRequest, bodyBytes: number, resetAfter: Promise<unknown> = Promise.resolve()): Promise<void> {
  const socket = await openRawRequest(base, request);
  socket.on('error', () => undefined);
  if (bodyBytes > 0) await new Promise<void>((resolve) => socket.write(Buffer.alloc(bodyBytes, 0x61), () => resolve()));
  await resetAfter;
  socket.resetAndDestroy();
}

/** Reads from a socket until `bytes` have arrived (or it closes); resolves with what arrived. */
export function readAtLeast(socket: Socket, bytes: number, timeoutMs = 10_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const timer = setTimeout(() => finish(new Error(`fewer than ${bytes} bytes within ${timeoutMs} ms (got ${total})`)), timeoutMs);
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      total += chunk.length;
      if (total >= bytes) finish();
    };
    const finish = (error?: Error): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      if (error) reject(error);
      else resolve(Buffer.concat(chunks));
    };
    const onClose = (): void => finish();
    socket.on('data', onData);
    socket.once('close', onClose);
  });
}

/** Resolves once the socket is closed by the other side, or rejects after `timeoutMs`. */
export function closedWithin(socket: Socket, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    if (socket.destroyed) return resolve();
    const timer = setTimeout(() => reject(new Error(`connection still open after ${timeoutMs} ms`)), timeoutMs);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.resume();
  });
}

