import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { mediaTypes, sha256 } from './oci-client.js';
import { closeServer } from './http-servers.js';

export interface FakeRequest {
  method: string;
  url: string;
  authorization: string | undefined;
  range: string | undefined;
}

/** Answers a request itself (true) or lets the fake registry serve it (false). */
export type Override = (req: IncomingMessage, res: ServerResponse, registry: FakeRegistry) => boolean;

/**
 * A hand-made Distribution registry on 127.0.0.1 serving one small image (`lib/app:v1`), for
 * tests that need a source to misbehave in ways a real registry never would: redirects
 * anywhere, odd bodies, odd realms. It also serves blobs under `/storage/<digest>`, so a second
 * instance plays "the blob host" (a CDN) of the first. Every request is recorded.
 */
export class FakeRegistry {
  readonly requests: FakeRequest[] = [];
  /** When set, every /v2/ request needs `Authorization: Basic` with these (else 401 Basic). */
  basic: { username: string; password: string } | null = null;
  override: Override | null = null;
  readonly blobs = new Map<string, Buffer>();
  readonly manifest: Buffer;
  readonly manifestDigest: string;
  private server: Server | null = null;
  port = 0;

  constructor() {
    // A label of its own, so no two fakes share a blob (a shared one would be linked, not fetched).
    const config = Buffer.from(JSON.stringify({ os: 'linux', architecture: 'amd64', config: { Labels: { fake: randomBytes(8).toString('hex') } }, rootfs: { type: 'layers', diff_ids: [] } }));
    const layer = randomBytes(64 * 1024);
    for (const blob of [config, layer]) this.blobs.set(sha256(blob), blob);
    this.manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: mediaTypes.ociManifest,
        config: { mediaType: mediaTypes.ociConfig, digest: sha256(config), size: config.length },
        layers: [{ mediaType: mediaTypes.ociLayer, digest: sha256(layer), size: layer.length }],
      }),
    );
    this.manifestDigest = sha256(this.manifest);
  }

  get host(): string {
    return `127.0.0.1:${this.port}`;
  }

  get url(): string {
    return `http://${this.host}`;
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      this.requests.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization, range: req.headers.range });
      req.resume();
      if (this.override?.(req, res, this)) return;
      this.serve(req, res);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server!.address() as { port: number }).port;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (server) await closeServer(server);
  }

  /** Requests whose path starts with `prefix`. */
  seen(prefix: string): FakeRequest[] {
    return this.requests.filter((r) => r.url.startsWith(prefix));
  }

  private serve(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '').split('?')[0]!;
    const storage = /^\/storage\/(sha256:[0-9a-f]{64})$/.exec(path);
    if (storage) return this.sendBlob(req, res, storage[1]!);
    if (path.startsWith('/v2/') && this.basic) {
      const expected = `Basic ${Buffer.from(`${this.basic.username}:${this.basic.password}`).toString('base64')}`;
      if (req.headers.authorization !== expected) {
        res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="fake"', 'Content-Type': 'application/json' }).end('{"errors":[{"code":"UNAUTHORIZED","message":"login"}]}');
        return;
      }
    }
    if (path === '/v2/') return void res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
    const manifest = /^\/v2\/lib\/app\/manifests\/([^/]+)$/.exec(path);
    if (manifest && (manifest[1] === 'v1' || manifest[1] === this.manifestDigest)) {
      res.writeHead(200, { 'Content-Type': mediaTypes.ociManifest, 'Docker-Content-Digest': this.manifestDigest, 'Content-Length': this.manifest.length });
      return void res.end(req.method === 'HEAD' ? undefined : this.manifest);
    }
    const blob = /^\/v2\/lib\/app\/blobs\/(sha256:[0-9a-f]{64})$/.exec(path);
    if (blob) return this.sendBlob(req, res, blob[1]!);
    res.writeHead(404, { 'Content-Type': 'application/json' }).end('{"errors":[{"code":"NAME_UNKNOWN","message":"unknown"}]}');
  }

  /** A blob, honouring a single `Range: bytes=a-b`. */
  private sendBlob(req: IncomingMessage, res: ServerResponse, digest: string): void {
    const bytes = this.blobs.get(digest);
    if (!bytes) return void res.writeHead(404).end();
    const range = /^bytes=(\d+)-(\d+)?$/.exec(req.headers.range ?? '');
    if (range) {
      const start = Number(range[1]);
      const end = Math.min(range[2] === undefined ? bytes.length - 1 : Number(range[2]), bytes.length - 1);
      res.writeHead(206, { 'Content-Type': 'application/octet-stream', 'Content-Range': `bytes ${start}-${end}/${bytes.length}`, 'Content-Length': end - start + 1 });
      return void res.end(bytes.subarray(start, end + 1));
    }
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': bytes.length }).end(bytes);
  }
}
