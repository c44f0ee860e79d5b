import { Readable } from 'node:stream';
import { RegistryError } from '../registry/errors.js';
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

/**
 * A client of another registry's Distribution API, for import: Docker token flow, Basic or
 * anonymous, whichever the source asks for.
 */
export class RemoteRegistry {
  private authorization: string | null = null;

  constructor(
    private readonly source: SourceReference,
    private readonly credentials: RemoteCredentials | null,
  ) {}

  get repository(): string {
    return this.source.repository;
  }

  async manifest(reference: string): Promise<{ content: Buffer; mediaType: string; digest: string | null }> {
    const res = await this.fetch(`/v2/${this.source.repository}/manifests/${reference}`, { headers: { Accept: manifestAccept } });
    if (res.status === 404) throw new RegistryError('MANIFEST_UNKNOWN', `${this.source.registryHost}/${this.source.repository}:${reference} not found`);
    await this.expectOk(res, 'manifest');
    return {
      content: Buffer.from(await res.arrayBuffer()),
      mediaType: (res.headers.get('content-type') ?? '').split(';')[0]!.trim(),
      digest: res.headers.get('docker-content-digest'),
    };
  }

  /** Bytes `start`..end of a blob; `ranged` false when the source ignored the Range header. */
  async blob(digest: string, start: number, end: number): Promise<{ stream: Readable; ranged: boolean }> {
    const res = await this.fetch(`/v2/${this.source.repository}/blobs/${digest}`, { headers: { Range: `bytes=${start}-${end}` } });
    await this.expectOk(res, `blob ${digest}`);
    if (!res.body) throw new Error('empty blob response');
    return { stream: Readable.fromWeb(res.body as never), ranged: res.status === 206 };
  }

  async referrers(digest: string): Promise<Array<{ mediaType: string; digest: string; size: number; artifactType?: string }>> {
    const res = await this.fetch(`/v2/${this.source.repository}/referrers/${digest}`, { headers: { Accept: 'application/vnd.oci.image.index.v1+json' } });
    if (res.status === 404) return []; // no referrers API there
    await this.expectOk(res, 'referrers');
    return ((await res.json()) as { manifests?: Array<{ mediaType: string; digest: string; size: number }> }).manifests ?? [];
  }

  private async fetch(path: string, init: { headers: Record<string, string> }): Promise<Response> {
    const url = `${this.source.registryUrl}${path}`;
    const send = () =>
      fetch(url, {
        headers: { ...init.headers, ...(this.authorization ? { Authorization: this.authorization } : {}) },
        signal: AbortSignal.timeout(300_000),
      });
    let res: Response;
    try {
      res = await send();
      if (res.status === 401) {
        const challenge = res.headers.get('www-authenticate');
        await res.arrayBuffer().catch(() => undefined);
        if (!challenge || !(await this.authenticate(challenge))) return res;
        res = await send();
      }
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause?.code;
      throw new RegistryError('INVALID_REQUEST', `cannot reach ${this.source.registryHost}: ${cause ?? (error as Error).message}`);
    }
    return res;
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
    const realm = new URL(params.realm);
    if (params.service) realm.searchParams.set('service', params.service);
    realm.searchParams.set('scope', `repository:${this.source.repository}:pull`);
    const res = await fetch(realm, { headers: basic ? { Authorization: basic } : {}, signal: AbortSignal.timeout(60_000) });
    if (!res.ok) {
      throw new RegistryError('UNAUTHORIZED', `${this.source.registryHost} refused the credentials for ${this.source.repository} (${res.status})`);
    }
    const body = (await res.json()) as { token?: string; access_token?: string };
    const token = body.access_token ?? body.token;
    if (!token) return false;
    this.authorization = `Bearer ${token}`;
    return true;
  }

  private async expectOk(res: Response, what: string): Promise<void> {
    if (res.ok) return;
    const text = await res.text().catch(() => '');
    if (res.status === 401 || res.status === 403) {
      throw new RegistryError('DENIED', `${this.source.registryHost} denied access to ${this.source.repository} (${what}): ${res.status}`);
    }
    throw new RegistryError('INVALID_REQUEST', `${this.source.registryHost} answered ${res.status} for ${what}: ${text.slice(0, 200)}`);
  }
}
