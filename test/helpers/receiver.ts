import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { closeServer } from './http-servers.js';

export interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
  json: Record<string, any>;
}

/** A real HTTP receiver on loopback that records what it gets and answers `status()`. */
export class Receiver {
  readonly received: Received[] = [];
  status = 200;
  private server: Server | null = null;
  port = 0;
  private waiters: Array<() => void> = [];

  async start(port = 0): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        let json: Record<string, any> = {};
        try {
          json = JSON.parse(body) as Record<string, any>;
        } catch {
          // not JSON
        }
        const status = this.status;
        if (status >= 200 && status < 300) this.received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body, json });
        res.writeHead(status, { 'Content-Type': 'text/plain', 'X-Receiver': 'test' }).end(status < 300 ? 'thanks' : 'receiver failing');
        for (const wake of this.waiters.splice(0)) wake();
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
    this.port = (this.server!.address() as { port: number }).port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/hook`;
  }

  /** Closes the listener and every connection (a kept-alive one would hold `close` open). Safe twice. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (server) await closeServer(server);
  }

  /** Waits until `count` events were accepted (or fails after `timeoutMs`, saying what came). */
  async waitFor(count: number, timeoutMs = 60_000): Promise<Received[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.received.length < count) {
      if (Date.now() > deadline) {
        const got = this.received.map((e) => `${e.json.action ?? e.method}`).join(', ');
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${count} events at ${this.url}; got ${this.received.length} (${got})`);
      }
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 200);
      });
    }
    return this.received;
  }
}
