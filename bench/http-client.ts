import { Agent, request } from 'node:http';

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** A lean keep-alive HTTP client, the same for every target so the ratios compare servers only. */
export class BenchClient {
  private readonly agent: Agent;
  private readonly url: URL;

  constructor(base: string, maxSockets: number) {
    this.url = new URL(base);
    this.agent = new Agent({ keepAlive: true, maxSockets });
  }

  call(method: string, path: string, body?: Buffer, headers: Record<string, string> = {}, discardBody = false): Promise<HttpResult> {
    return new Promise((resolve, reject) => {
      const target = path.startsWith('http') ? new URL(path) : new URL(path, this.url);
      const req = request(
        {
          agent: this.agent,
          host: target.hostname,
          port: target.port,
          method,
          path: target.pathname + target.search,
          headers: { ...(body ? { 'Content-Length': String(body.length) } : { 'Content-Length': '0' }), ...headers },
        },
        (res) => {
          const chunks: Buffer[] = [];
          let received = 0;
          res.on('data', (c: Buffer) => {
            received += c.length;
            if (!discardBody) chunks.push(c);
          });
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: discardBody ? Buffer.alloc(received) : Buffer.concat(chunks) }),
          );
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

export function expectStatus(result: HttpResult, status: number, what: string): HttpResult {
  if (result.status !== status) throw new Error(`${what}: expected ${status}, got ${result.status}: ${result.body.toString().slice(0, 300)}`);
  return result;
}

/** Runs `count` jobs with at most `concurrency` in flight. */
export async function pool(count: number, concurrency: number, job: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(concurrency, count) }, async () => {
    while (next < count) await job(next++);
  });
  await Promise.all(workers);
}
