import type { Readable } from 'node:stream';
import type { FastifyRequest } from 'fastify';
import { RegistryError } from '../registry/errors.js';
import type { ByteRange } from '../storage/blob-store.js';
import { guardErrors } from '../streams/request-body.js';

/** Entries per page when a client does not say `n`, and the most it may ask for. */
export const defaultPageSize = 1000;
export const maxPageSize = 10000;

export function queryParam(request: FastifyRequest, key: string): string | undefined {
  const value = (request.query as Record<string, unknown>)[key];
  if (Array.isArray(value)) return typeof value[0] === 'string' ? value[0] : undefined;
  return typeof value === 'string' ? value : undefined;
}

export function headerValue(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

export function contentLengthOf(request: FastifyRequest): number | null {
  const raw = headerValue(request, 'content-length');
  if (raw === undefined) return null;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) throw new RegistryError('SIZE_INVALID', 'invalid Content-Length');
  return n;
}

/** The request body as a stream (the registry plugin's content parser hands it over unread). */
export function bodyStream(request: FastifyRequest): Readable {
  const body = request.body as Readable | undefined;
  return body && typeof (body as Readable).pipe === 'function' ? body : guardErrors(request.raw);
}

export function hasBody(request: FastifyRequest): boolean {
  const length = headerValue(request, 'content-length');
  return (length !== undefined && length !== '0') || headerValue(request, 'transfer-encoding') !== undefined;
}

/** Reads a whole body, refusing more than `limit` bytes. */
export async function readBody(request: FastifyRequest, limit: number): Promise<Buffer> {
  const declared = contentLengthOf(request);
  const tooLarge = (): RegistryError =>
    new RegistryError('SIZE_INVALID', `payload exceeds ${limit} bytes`, { limit }, { status: 413 });
  if (declared !== null && declared > limit) throw tooLarge();
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of bodyStream(request)) {
    total += (chunk as Buffer).length;
    if (total > limit) throw tooLarge();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, total);
}

/** `n` and `last` of the spec's pagination; `n` is clamped to `maxPageSize`. */
export function pageParams(request: FastifyRequest): { last: string | undefined; n: number } {
  const rawN = queryParam(request, 'n');
  let n = defaultPageSize;
  if (rawN !== undefined) {
    n = Number(rawN);
    if (!Number.isSafeInteger(n) || n < 0) throw new RegistryError('PAGINATION_NUMBER_INVALID', 'invalid number of results requested', { n: rawN });
    n = Math.min(n, maxPageSize);
  }
  const last = queryParam(request, 'last');
  return { last: last === '' ? undefined : last, n };
}

/** Sets `Link: <path?last=X&n=N>; rel="next"` when a page came back full. */
export function nextLink(path: string, entries: string[], n: number): string | undefined {
  if (n === 0 || entries.length < n) return undefined;
  const last = entries[entries.length - 1]!;
  return `<${path}?last=${encodeURIComponent(last)}&n=${n}>; rel="next"`;
}

/** Parses `Content-Range: start-end` (the spec's form) or `bytes start-end/total`. */
export function parseContentRange(value: string | undefined): ByteRange | null {
  if (value === undefined) return null;
  const match = /^(?:bytes[ =])?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(value.trim());
  if (!match) throw new RegistryError('BLOB_UPLOAD_INVALID', 'invalid Content-Range', { contentRange: value }, { status: 416 });
  const range = { start: Number(match[1]), end: Number(match[2]) };
  if (!Number.isSafeInteger(range.start) || !Number.isSafeInteger(range.end) || range.end < range.start) throw new RegistryError('BLOB_UPLOAD_INVALID', 'invalid Content-Range', { contentRange: value }, { status: 416 });
  return range;
}

/**
 * Parses a single-range `Range: bytes=...` request header against a blob of `size` bytes.
 * Null means "send everything" (no header, or a form we choose to ignore, as RFC 9110 allows).
 */
export function parseByteRange(value: string | undefined, size: number): ByteRange | null {
  if (value === undefined) return null;
  const match = /^bytes=(\d*)-(\d*)$/.exec(value.trim());
  if (!match || (match[1] === '' && match[2] === '')) return null;
  let start: number;
  let end: number;
  if (match[1] === '') {
    const suffix = Number(match[2]);
    start = Math.max(size - suffix, 0);
    end = size - 1;
  } else {
    start = Number(match[1]);
    end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  }
  if (start >= size || end < start) {
    throw new RegistryError('RANGE_INVALID', 'requested range not satisfiable', { range: value }, {
      status: 416,
      headers: { 'Content-Range': `bytes */${size}` },
    });
  }
  return { start, end };
}
