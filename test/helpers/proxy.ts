import { createServer, request, type Server } from 'node:http';
import { closeServer } from './http-servers.js';

export interface ProxyLogEntry {
  method: string;
  url: string;
  range: string | undefined;
  dropped: boolean;
  /** The upstream response has been passed on completely. */
  finished: boolean;
}

/**
 * A loopback HTTP proxy in front of a registry, to misbehave on purpose: cut a blob response
 * after some bytes (once), or throttle blob bodies. Rewrites `Location`/realm host headers back to itself.
 */
export class MisbehavingProxy {
  readonly log: ProxyLogEntry[] = [];
  /** Cut the next GET of this blob after this many bytes (then behave). */
  dropBlob: { digest: string; after: number } | null = null;
  /** Bytes per second for blob bodies, or null for full speed. */
  throttle: number | null = null;
  /** Answers matching requests itself (an outage, a 429), or null to pass everything on. */
  answer: ((method: string, url: string) => { status: number; headers?: Record<string, string> } | null) | null = null;
  private server: Server | null = null;
  port = 0;

  constructor(private readonly target: URL) {}

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const isBlob = req.method === 'GET' && /\/blobs\/sha256:/.test(req.url ?? '');
      const entry: ProxyLogEntry = { method: req.method ?? '', url: req.url ?? '', range: req.headers.range, dropped: false, finished: false };
      this.log.push(entry);
      const answer = this.answer?.(entry.method, entry.url) ?? null;
      if (answer) {
        req.resume();
        res.writeHead(answer.status, { 'Content-Type': 'application/json', ...answer.headers }).end('{"errors":[{"code":"UNAVAILABLE","message":"proxy says no"}]}');
        entry.finished = true;
        return;
      }
      const upstream = request(
        { host: this.target.hostname, port: this.target.port, method: req.method, path: req.url, headers: { ...req.headers, host: this.target.host } },
        (up) => {
          const headers = { ...up.headers };
          if (typeof headers['www-authenticate'] === 'string') {
            headers['www-authenticate'] = headers['www-authenticate'].replace(this.target.host, `127.0.0.1:${this.port}`);
          }
          res.writeHead(up.statusCode ?? 502, headers);
          const drop = isBlob && this.dropBlob && (req.url ?? '').includes(this.dropBlob.digest) ? this.dropBlob : null;
          if (drop) this.dropBlob = null;
          const dropAfter = drop ? drop.after : null;
          let sent = 0;
          up.on('data', (chunk: Buffer) => {
            if (dropAfter !== null && sent + chunk.length > dropAfter) {
              res.write(chunk.subarray(0, dropAfter - sent));
              entry.dropped = true;
              up.destroy();
              res.socket?.destroy();
              return;
            }
            sent += chunk.length;
            if (isBlob && this.throttle) {
              up.pause();
              res.write(chunk);
              setTimeout(() => up.resume(), (chunk.length / this.throttle) * 1000);
            } else {
              res.write(chunk);
            }
          });
          up.on('end', () => {
            entry.finished = true;
            res.end();
          });
          up.on('error', () => res.destroy());
        },
      );
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server!.address() as { port: number }).port;
  }

  get host(): string {
    return `127.0.0.1:${this.port}`;
  }

  blobGets(): ProxyLogEntry[] {
    return this.log.filter((e) => e.method === 'GET' && /\/blobs\/sha256:/.test(e.url));
  }

  /** Closes the listener and every connection. Safe twice. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (server) await closeServer(server);
  }
}
