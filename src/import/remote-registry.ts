import { Readable } from 'node:stream';
import type { Response } from 'undici';
import { RegistryError, type RegistryErrorCode } from '../registry/errors.js';
import { egressRefusal, type EgressPolicy } from '../network/egress.js';
import type { SourceReference } from './image-reference.js';

export interface RemoteCredentials {
  username: string;
  password: string;
}

const manifestAccept = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

function parseChallenge(header: string): { scheme: string; params: Record<string, string> } {
  const space = header.indexOf(' ');
  const scheme = (space < 0 ? header : header.slice(0, space)).toLowerCase();
  const params: Record<string, string> = {};
  for (const match of header.slice(space + 1).matchAll(/(\w+)="([^"]*)"/g)) params[match[1]!] = match[2]!;
  return { scheme, params };
}

/** Error codes a Distribution registry may answer; only these are repeated in a job's error. */
const distributionCodes = new Set<string>([
  'BLOB_UNKNOWN', 'BLOB_UPLOAD_INVALID', 'BLOB_UPLOAD_UNKNOWN', 'DIGEST_INVALID', 'MANIFEST_BLOB_UNKNOWN', 'MANIFEST_INVALID', 'MANIFEST_UNKNOWN',
  'NAME_INVALID', 'NAME_UNKNOWN', 'SIZE_INVALID', 'TAG_INVALID', 'UNAUTHORIZED', 'DENIED', 'UNSUPPORTED', 'TOOMANYREQUESTS',
] satisfies RegistryErrorCode[]);

/**
 * A client of another registry's Distribution API, for import: Docker token flow, Basic or
 * anonymous, whichever the source asks for. Every request goes through the egress policy; a
 * response body of the source is never repeated in an error (the job's error is shown to its
 * requester, and the source may be any address the requester names).
 */
export class RemoteRegistry {
  private authorization: string | null = null;

  constructor(
    private readonly source: SourceReference,
    private readonly credentials: RemoteCredentials | null,
    private readonly egress: EgressPolicy,
  ) {}

  get repository(): string {
    return this.source.repository;
  }

  async manifest(reference: string): Promise<{ content: Buffer; mediaType: string; digest: string | null }> {
    const res = await this.fetch(`/v2/${this.source.repository}/manifests/${reference}`, { Accept: manifestAccept }, 'same-origin');
    if (res.status === 404) throw new RegistryError('MANIFEST_UNKNOWN', `${this.source.registryHost}/${this.source.repository}:${reference} not found`);
    await this.expectOk(res, 'manifest');
    return {
      content: Buffer.from(await res.arrayBuffer()),
      mediaType: (res.headers.get('content-type') ?? '').split(';')[0]!.trim(),
      digest: res.headers.get('docker-content-digest'),
    };
  }

  /**
   * The digest a tag points at, by HEAD (Docker Hub does not count a HEAD as a pull). A 429
   * throws RateLimited with the registry's Retry-After, for the caller's back-off.
   */
  async manifestDigest(reference: string): Promise<string> {
    const res = await this.fetch(`/v2/${this.source.repository}/manifests/${reference}`, { Accept: manifestAccept }, 'same-origin', 'HEAD');
    await res.body?.cancel().catch(() => undefined);
    if (res.status === 429) throw new RateLimited(`${this.source.registryHost} answered 429 (too many requests)`, retryAfterSeconds(res.headers.get('retry-after')));
    if (res.status === 404) throw new RegistryError('MANIFEST_UNKNOWN', `${this.source.registryHost}/${this.source.repository}:${reference} not found`);
    if (res.status === 401 || res.status === 403) throw new RegistryError('DENIED', `${this.source.registryHost} denied access to ${this.source.repository}: ${res.status}`);
    if (!res.ok) throw new RegistryError('INVALID_REQUEST', `${this.source.registryHost} answered ${res.status} for the manifest of ${this.source.repository}:${reference}`);
    const digest = res.headers.get('docker-content-digest');
    if (!digest) throw new RegistryError('INVALID_REQUEST', `${this.source.registryHost} gave no Docker-Content-Digest for ${this.source.repository}:${reference}`);
    return digest;
  }

  /** Bytes `start`..end of a blob; `ranged` false when the source ignored the Range header. */
  async blob(digest: string, start: number, end: number): Promise<{ stream: Readable; ranged: boolean }> {
    // Registries commonly redirect blob GETs to their storage (a CDN, a presigned S3 URL).
    const res = await this.fetch(`/v2/${this.source.repository}/blobs/${digest}`, { Range: `bytes=${start}-${end}` }, 'any-origin');
    await this.expectOk(res, `blob ${digest}`);
    if (!res.body) throw new Error('empty blob response');
    return { stream: Readable.fromWeb(res.body as never), ranged: res.status === 206 };
  }

  async referrers(digest: string): Promise<Array<{ mediaType: string; digest: string; size: number; artifactType?: string }>> {
    const res = await this.fetch(`/v2/${this.source.repository}/referrers/${digest}`, { Accept: 'application/vnd.oci.image.index.v1+json' }, 'same-origin');
    if (res.status === 404) return []; // no referrers API there
    await this.expectOk(res, 'referrers');
    const body = (await this.json(res, 'referrers')) as { manifests?: Array<{ mediaType: string; digest: string; size: number }> } | null;
    return Array.isArray(body?.manifests) ? body.manifests : [];
  }

  private async fetch(path: string, headers: Record<string, string>, redirect: 'same-origin' | 'any-origin', method: 'GET' | 'HEAD' = 'GET'): Promise<Response> {
    const url = `${this.source.registryUrl}${path}`;
    const send = () =>
      this.egress.fetch(url, {
        method,
        headers: { ...headers, ...(this.authorization ? { Authorization: this.authorization } : {}) },
        signal: AbortSignal.timeout(300_000),
        redirect,
      });
    let res: Response;
    try {
      res = await send();
      // Only the registry itself may ask for credentials: a 401 from the host a blob was
      // redirected to (its challenge could name any realm) is just a failure.
      if (res.status === 401 && new URL(res.url).origin === new URL(this.source.registryUrl).origin) {
        const challenge = res.headers.get('www-authenticate');
        await res.body?.cancel().catch(() => undefined);
        if (!challenge || !(await this.authenticate(challenge))) return res;
        res = await send();
      }
    } catch (error) {
      throw this.unreachable(error);
    }
    return res;
  }

  /** A failed request as the job's error: the policy's refusal, or the network error's code. */
  private unreachable(error: unknown): RegistryError {
    if (error instanceof RegistryError) return error;
    const refusal = egressRefusal(error);
    if (refusal) return new RegistryError('DENIED', `cannot import from ${this.source.registryHost}: ${refusal.message}`);
    const cause = (error as { cause?: { code?: string } }).cause?.code;
    return new RegistryError('INVALID_REQUEST', `cannot reach ${this.source.registryHost}: ${cause ?? (error as Error).message}`);
  }

  private async authenticate(challenge: string): Promise<boolean> {
    const { scheme, params } = parseChallenge(challenge);
    const basic = this.credentials ? `Basic ${Buffer.from(`${this.credentials.username}:${this.credentials.password}`).toString('base64')}` : null;
    if (scheme === 'basic') {
      if (!basic || this.authorization === basic) return false;
      this.authorization = basic;
      return true;
    }
    if (scheme !== 'bearer' || !params.realm) return false;
    let realm: URL;
    try {
      realm = new URL(params.realm);
    } catch {
      throw new RegistryError('INVALID_REQUEST', `${this.source.registryHost} named an invalid token realm`);
    }
    // The realm is another URL the source chooses: it passes the same policy, and never takes
    // credentials in clear text when the registry itself was reached over https.
    if (this.source.registryUrl.startsWith('https:') && realm.protocol === 'http:') {
      throw new RegistryError('DENIED', `${this.source.registryHost} named a plain-http token realm (${realm.origin}); refused`);
    }
    if (params.service) realm.searchParams.set('service', params.service);
    realm.searchParams.set('scope', `repository:${this.source.repository}:pull`);
    const res = await this.egress.fetch(realm, { headers: basic ? { Authorization: basic } : {}, signal: AbortSignal.timeout(60_000), redirect: 'same-origin' });
    if (!res.ok) {
      await res.body?.cancel().catch(() => undefined);
      throw new RegistryError('UNAUTHORIZED', `${this.source.registryHost} refused the credentials for ${this.source.repository} (${res.status})`);
    }
    const body = (await this.json(res, 'token')) as { token?: unknown; access_token?: unknown } | null;
    const token = body?.access_token ?? body?.token;
    if (typeof token !== 'string' || !token) return false;
    this.authorization = `Bearer ${token}`;
    return true;
  }

  /** JSON of a response, or null when it is not JSON (the parser's message would quote the body). */
  private async json(res: Response, what: string): Promise<unknown> {
    try {
      return await res.json();
    } catch {
      throw new RegistryError('INVALID_REQUEST', `${this.source.registryHost} answered something that is not JSON for ${what}`);
    }
  }

  /**
   * Refuses a non-2xx answer by its status (and a Distribution error code, if the body is that
   * envelope), never by the body's text: that could be any internal service's content.
   */
  private async expectOk(res: Response, what: string): Promise<void> {
    if (res.ok) return;
    const text = await readAtMost(res, 64 * 1024);
    if (res.status === 401 || res.status === 403) {
      throw new RegistryError('DENIED', `${this.source.registryHost} denied access to ${this.source.repository} (${what}): ${res.status}`);
    }
    let code: string | null = null;
    try {
      const first = (JSON.parse(text) as { errors?: Array<{ code?: unknown }> }).errors?.[0]?.code;
      if (typeof first === 'string' && distributionCodes.has(first)) code = first;
    } catch {
      // not the Distribution envelope
    }
    throw new RegistryError('INVALID_REQUEST', `${this.source.registryHost} answered ${res.status}${code ? ` ${code}` : ''} for ${what}`);
  }
}

/** A registry asked us to slow down; `retryAfterSeconds` is its Retry-After (null: none given). */
export class RateLimited extends Error {
  constructor(
    message: string,
    readonly retryAfterSeconds: number | null,
  ) {
    super(message);
  }
}

/** Retry-After as seconds or an HTTP date. */
function retryAfterSeconds(header: string | null): number | null {
  if (!header) return null;
  if (/^\d+$/.test(header.trim())) return Number(header.trim());
  const at = Date.parse(header);
  return Number.isNaN(at) ? null : Math.max(0, Math.round((at - Date.now()) / 1000));
}

/** The start of a body (an error envelope is small; an internal service's page need not be), then the rest is dropped. */
async function readAtMost(res: Response, limit: number): Promise<string> {
  if (!res.body) return '';
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res.body) {
      chunks.push(Buffer.from(chunk));
      size += chunk.byteLength;
      if (size >= limit) break;
    }
  } catch {
    // a broken body is an empty one here
  }
  return Buffer.concat(chunks).subarray(0, limit).toString('utf8');
}
