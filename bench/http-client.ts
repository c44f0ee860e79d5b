import { Agent, request } from 'node:http';

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** Empty when the caller asked to discard it. */
  body: Buffer;
  /** Bytes of body received. */
  size: number;
}

/**
 * How the client signs in, as real clients do: `token` answers a 401 Bearer challenge by fetching
 * a token from its realm with Basic credentials (docker, skopeo, containerd) and keeps it per
 * repository until the next 401; `basic` sends Basic credentials on every request.
 */
export type ClientAuth = { mode: 'none' } | { mode: 'basic' | 'token'; user: string; password: string };

/** A lean keep-alive HTTP client, the same for every target so the ratios compare servers only. */
export class BenchClient {
  private readonly agent: Agent;
  private readonly url: URL;
  /** Bearer tokens by repository (or '' for the base endpoint). */
  private readonly tokens = new Map<string, Promise<string>>();

  constructor(
    base: string,
    maxSockets: number,
    private readonly auth: ClientAuth = { mode: 'none' },
  ) {
    this.url = new URL(base);
    this.agent = new Agent({ keepAlive: true, maxSockets });
  }

  async call(method: string, path: string, body?: Buffer, headers: Record<string, string> = {}, discardBody = false): Promise<HttpResult> {
    const repository = repositoryOf(path);
    const authorization = await this.authorization(repository);
    const result = await this.send(method, path, body, authorization ? { ...headers, Authorization: authorization } : headers, discardBody);
    if (result.status !== 401 || this.auth.mode !== 'token') return result;
    // Expired or missing token: fetch one for the challenge's realm, as clients do, and retry once.
    const challenge = String(result.headers['www-authenticate'] ?? '');
    const token = this.fetchToken(challenge, repository);
    this.tokens.set(repository, token);
    return this.send(method, path, body, { ...headers, Authorization: `Bearer ${await token}` }, discardBody);
  }

  /** What `call` would send to sign a request for `path`, signing in first when needed (for the lean downloader). */
  async authorizationHeaders(path: string): Promise<Record<string, string>> {
    const repository = repositoryOf(path);
    if (this.auth.mode === 'token' && !this.tokens.has(repository)) expectStatus(await this.call('HEAD', path), 200, `sign in for ${path}`);
    const authorization = await this.authorization(repository);
    return authorization ? { Authorization: authorization } : {};
  }

  private async authorization(repository: string): Promise<string | null> {
    if (this.auth.mode === 'basic') return `Basic ${Buffer.from(`${this.auth.user}:${this.auth.password}`).toString('base64')}`;
    if (this.auth.mode === 'token') {
      const token = this.tokens.get(repository);
      return token ? `Bearer ${await token}` : null;
    }
    return null;
  }

  private async fetchToken(challenge: string, repository: string): Promise<string> {
    if (this.auth.mode === 'none') throw new Error('no credentials');
    const param = (key: string): string | undefined => new RegExp(`${key}="([^"]*)"`).exec(challenge)?.[1];
    const realm = param('realm');
    if (!realm) throw new Error(`401 without a Bearer challenge: ${challenge}`);
    const query = new URLSearchParams({ service: param('service') ?? '' });
    // Like `docker push`: one token for pull and push of the repository.
    if (repository) query.append('scope', `repository:${repository}:pull,push`);
    const basic = `Basic ${Buffer.from(`${this.auth.user}:${this.auth.password}`).toString('base64')}`;
    const res = await this.send('GET', `${realm}?${query}`, undefined, { Authorization: basic }, false);
    if (res.status !== 200) throw new Error(`token endpoint: ${res.status} ${res.body.toString().slice(0, 200)}`);
    return (JSON.parse(res.body.toString()) as { token: string }).token;
  }

  private send(method: string, path: string, body: Buffer | undefined, headers: Record<string, string>, discardBody: boolean): Promise<HttpResult> {
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
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: discardBody ? Buffer.alloc(0) : Buffer.concat(chunks), size: received }),
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

/** The repository a /v2 path names ('' for /v2/ itself and anything else). */
function repositoryOf(path: string): string {
  const pathname = path.startsWith('http') ? new URL(path).pathname : path.split('?', 1)[0]!;
  const match = /^\/v2\/(.+)\/(?:blobs\/uploads(?:\/[^/]*)?|blobs\/[^/]+|manifests\/[^/]+|tags\/list|referrers\/[^/]+)$/.exec(pathname);
  return match ? match[1]! : '';
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
