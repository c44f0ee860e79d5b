import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';

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

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server?.closeAllConnections();
    this.server = null;
  }

  /** Waits until `count` events were accepted (or fails after `timeoutMs`). */
  async waitFor(count: number, timeoutMs = 20_000): Promise<Received[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.received.length < count) {
      if (Date.now() > deadline) throw new Error(`expected ${count} events, got ${this.received.length}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 200);
      });
    }
    return this.received;
  }
}
