import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';

/** Engine API calls that create objects: containers, networks and volumes get the run's labels. */
const labelledCreates = /^\/(containers|networks|volumes)\/create$/;

/**
 * A per-run Docker Engine API proxy on a unix socket, given to the `docker` built-in in place of
 * the engine's own socket. It forwards everything (including the hijacked streams of attach and
 * exec), and on the way:
 * - labels the containers, networks and volumes the run's docker CLI creates, so the run's
 *   cleanup finds them (a `docker run -d` in a step no longer outlives the run);
 * - records the image tags the run creates (tag, pull, build, commit) that the engine did not
 *   already have, so cleanup can remove exactly those and leave shared images alone.
 */
export class EngineProxy {
  readonly socketPath: string;
  private readonly dir: string;
  private readonly server: Server;
  private readonly createdTags = new Set<string>();
  private readonly sockets = new Set<Socket>();

  constructor(
    private readonly engineSocket: string,
    private readonly runLabels: Record<string, string>,
    /** True when the engine already has this image reference. */
    private readonly imageExists: (reference: string) => Promise<boolean>,
  ) {
    this.dir = mkdtempSync(join(tmpdir(), 'berth-engine-'));
    this.socketPath = join(this.dir, 'docker.sock');
    this.server = createServer((request, response) => void this.forward(request, response));
    this.server.on('upgrade', (request: IncomingMessage, client: Socket, head: Buffer) => this.tunnel(request, client, head));
    this.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => this.server.listen(this.socketPath, resolve).once('error', reject));
  }

  /** Image tags the run made that were not in the engine before. */
  tags(): string[] {
    return [...this.createdTags];
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async forward(request: IncomingMessage, response: ServerResponse): Promise<void> {
    try {
      const url = new URL(request.url ?? '/', 'http://engine');
      const path = url.pathname.replace(/^\/v\d+\.\d+/, '');
      let body: Buffer | null = null;
      if (request.method === 'POST' && labelledCreates.test(path)) body = this.withLabels(await readBody(request));
      if (request.method === 'POST') await this.noteImageTags(path, url.searchParams);
      const headers = { ...request.headers };
      if (body) {
        headers['content-length'] = String(body.length);
        delete headers['transfer-encoding'];
      }
      const upstream = httpRequest({ socketPath: this.engineSocket, path: request.url, method: request.method, headers }, (engine) => {
        response.writeHead(engine.statusCode ?? 502, engine.headers);
        // Long polls (wait, events) answer headers long before any body; the CLI waits for them.
        response.flushHeaders();
        // pipeline, not pipe(): a client or engine that drops the connection must end this
        // exchange, not raise an unhandled 'error'.
        pipeline(engine, response).catch(() => undefined);
      });
      upstream.on('error', (error) => {
        if (!response.headersSent) response.writeHead(502, { 'Content-Type': 'text/plain' });
        response.end(`engine unreachable: ${error.message}`);
      });
      if (body) upstream.end(body);
      else pipeline(request, upstream).catch(() => undefined);
    } catch (error) {
      if (!response.headersSent) response.writeHead(400, { 'Content-Type': 'text/plain' });
      response.end((error as Error).message);
    }
  }

  /** attach/exec switch the connection to a raw stream: pass the request on, then splice the sockets. */
  private tunnel(request: IncomingMessage, client: Socket, head: Buffer): void {
    const engine = connect(this.engineSocket, () => {
      const lines = [`${request.method} ${request.url} HTTP/${request.httpVersion}`];
      for (let i = 0; i < request.rawHeaders.length; i += 2) lines.push(`${request.rawHeaders[i]}: ${request.rawHeaders[i + 1]}`);
      engine.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (head.length) engine.write(head);
      engine.pipe(client);
      client.pipe(engine);
    });
    const end = () => {
      engine.destroy();
      client.destroy();
    };
    engine.on('error', end);
    client.on('error', end);
    engine.on('close', end);
    client.on('close', end);
  }

  private withLabels(raw: Buffer): Buffer {
    const spec = (raw.length ? JSON.parse(raw.toString('utf8')) : {}) as { Labels?: Record<string, string> | null };
    spec.Labels = { ...(spec.Labels ?? {}), ...this.runLabels };
    return Buffer.from(JSON.stringify(spec));
  }

  private async noteImageTags(path: string, query: URLSearchParams): Promise<void> {
    const references: string[] = [];
    const tagMatch = /^\/images\/(.+)\/tag$/.exec(path);
    if (tagMatch && query.get('repo')) references.push(`${query.get('repo')}:${query.get('tag') || 'latest'}`);
    if (path === '/images/create' && query.get('fromImage')) {
      const image = query.get('fromImage')!;
      const tag = query.get('tag');
      references.push(image.includes('@') || /:[^/]+$/.test(image) ? image : `${image}:${tag || 'latest'}`);
    }
    if (path === '/build') for (const tag of query.getAll('t')) references.push(/:[^/]+$/.test(tag) ? tag : `${tag}:latest`);
    if (path === '/commit' && query.get('repo')) references.push(`${query.get('repo')}:${query.get('tag') || 'latest'}`);
    for (const reference of references) if (!(await this.imageExists(reference))) this.createdTags.add(reference);
  }
}

function readBody(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}
