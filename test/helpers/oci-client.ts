import { createHash } from 'node:crypto';

export const mediaTypes = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
} as const;

export function sha256(data: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export function sha512(data: Uint8Array | string): string {
  return `sha512:${createHash('sha512').update(data).digest('hex')}`;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  platform?: { os: string; architecture: string };
  annotations?: Record<string, string>;
}

/** A deliberately plain client for the Distribution API, so tests see exactly what goes on the wire. */
export interface Credentials {
  username: string;
  password: string;
}

export function basicAuth(credentials: Credentials): string {
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
}

/**
 * fetch, sent again once when the pooled connection it went out on had been closed by the server
 * while this process could not notice (a test blocked in spawnSync for longer than the server's
 * keep-alive). Only for idempotent methods: anything else would risk doing it twice.
 */
export async function fetchOnce(url: string, init: RequestInit & { method: string }): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (error) {
    const code = (error as { cause?: { code?: string } }).cause?.code;
    if (code !== 'UND_ERR_SOCKET' || !['GET', 'HEAD', 'PUT', 'DELETE'].includes(init.method)) throw error;
    return fetch(url, init);
  }
}

export class OciClient {
  /** Sends Basic credentials with every request, or none for an anonymous client. */
  constructor(
    readonly base: string,
    readonly credentials: Credentials | null = { username: 'admin', password: 'test-admin-password' },
  ) {}

  request(method: string, path: string, init: { body?: Uint8Array | string; headers?: Record<string, string> } = {}): Promise<Response> {
    const headers: Record<string, string> = { ...(this.credentials ? { Authorization: basicAuth(this.credentials) } : {}), ...init.headers };
    return fetchOnce(this.base + path, { method, body: init.body as BodyInit | undefined, headers, redirect: 'manual' });
  }

  async pushBlob(repository: string, data: Uint8Array | string): Promise<Descriptor> {
    const digest = sha256(data);
    const res = await this.request('POST', `/v2/${repository}/blobs/uploads/?digest=${digest}`, {
      body: data,
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    // Read to the end either way: an unread body holds its pooled connection.
    const answer = await res.text();
    if (res.status !== 201) throw new Error(`push blob: ${res.status} ${answer}`);
    return { mediaType: 'application/octet-stream', digest, size: Buffer.byteLength(data) };
  }

  async pushManifest(repository: string, reference: string, manifest: object, mediaType?: string): Promise<{ digest: string; response: Response }> {
    const body = JSON.stringify(manifest);
    const type = mediaType ?? (manifest as { mediaType?: string }).mediaType ?? mediaTypes.ociManifest;
    const response = await this.request('PUT', `/v2/${repository}/manifests/${reference}`, { body, headers: { 'Content-Type': type } });
    const answer = await response.text();
    if (response.status !== 201) throw new Error(`push manifest: ${response.status} ${answer}`);
    return { digest: sha256(body), response };
  }

  /** Pushes a config and one layer, then an image manifest referencing them. */
  async pushImage(
    repository: string,
    reference: string,
    options: { layer?: string; platform?: { os: string; architecture: string }; subject?: Descriptor; artifactType?: string } = {},
  ): Promise<{ digest: string; size: number; manifest: object }> {
    const platform = options.platform ?? { os: 'linux', architecture: 'amd64' };
    const config = await this.pushBlob(repository, JSON.stringify({ ...platform, rootfs: { type: 'layers', diff_ids: [] } }));
    const layer = await this.pushBlob(repository, options.layer ?? `layer of ${repository}:${reference} ${Math.random()}`);
    const manifest: Record<string, unknown> = {
      schemaVersion: 2,
      mediaType: mediaTypes.ociManifest,
      config: { ...config, mediaType: mediaTypes.ociConfig },
      layers: [{ ...layer, mediaType: mediaTypes.ociLayer }],
    };
    if (options.artifactType) manifest.artifactType = options.artifactType;
    if (options.subject) manifest.subject = options.subject;
    const { digest } = await this.pushManifest(repository, reference, manifest);
    return { digest, size: Buffer.byteLength(JSON.stringify(manifest)), manifest };
  }

  /** Pushes a signature-like OCI artifact (empty config and layer) whose subject is `subject`, by digest. */
  async pushSignature(repository: string, subject: { digest: string; size: number }): Promise<{ digest: string; response: Response }> {
    const empty = await this.pushBlob(repository, '{}');
    const manifest = {
      schemaVersion: 2,
      mediaType: mediaTypes.ociManifest,
      artifactType: 'application/vnd.example.signature',
      config: { ...empty, mediaType: mediaTypes.ociEmpty },
      layers: [{ ...empty, mediaType: mediaTypes.ociEmpty }],
      subject: { mediaType: mediaTypes.ociManifest, digest: subject.digest, size: subject.size },
    };
    return this.pushManifest(repository, sha256(JSON.stringify(manifest)), manifest);
  }

  async errorCode(res: Response): Promise<string | undefined> {
    const body = (await res.json()) as { errors?: Array<{ code: string }> };
    return body.errors?.[0]?.code;
  }
}
