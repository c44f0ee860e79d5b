import { knownLogins, loginFor, type StoredLogin } from './credentials.js';
import { invocation } from './invocation.js';

export class CliError extends Error {}

interface ErrorEnvelope {
  errors?: Array<{ code: string; message: string }>;
}

async function errorMessage(response: Response): Promise<string> {
  const text = await response.text();
  try {
    const body = JSON.parse(text) as ErrorEnvelope;
    if (body.errors?.[0]) return `${body.errors[0].code}: ${body.errors[0].message}`;
  } catch {
    // not JSON
  }
  return `HTTP ${response.status}${text ? `: ${text.slice(0, 200)}` : ''}`;
}

/** Calls the token endpoint with a form body (password or refresh_token grant). */
export async function requestToken(server: string, form: Record<string, string>, scopes: string[] = []): Promise<Response> {
  const body = new URLSearchParams({ service: new URL(server).host, client_id: 'berth-cli', ...form });
  for (const scope of scopes) body.append('scope', scope);
  return fetch(`${server}/oauth2/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: body.toString(),
  });
}

/** The management API as the logged-in identity (an access token per CLI invocation). */
export class ApiClient {
  private accessToken: string | null = null;

  /**
   * `scopes` (Docker token scopes, e.g. `repository:app:pull`) go into the access token: the
   * registry's own routes (/v2, /acr/v1) authorise by them; the management API ignores them.
   */
  constructor(
    private readonly login: StoredLogin,
    private readonly scopes: string[] = [],
  ) {}

  static fromStoredLogin(scopes: string[] = []): ApiClient {
    const { registry } = invocation();
    const login = loginFor(registry);
    if (!login && registry !== undefined) {
      const known = knownLogins();
      throw new CliError(`not logged in to a registry called "${registry}"${known.length ? `; logged in to: ${known.join(', ')}` : ''}: run \`berth login <server-url> -n ${registry} -u USER -p PASS\``);
    }
    if (!login) throw new CliError('not logged in: run `berth login <server-url> -u USER -p PASS` first');
    return new ApiClient(login, scopes);
  }

  get server(): string {
    return this.login.server;
  }

  /** JSON in, JSON out; a stream body (ReadableStream) is sent as is with `contentType`. */
  async call<T>(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
    const response = await this.raw(method, path, body, contentType);
    if (response.status === 204) return undefined as T;
    return (await response.json()) as T;
  }

  /** The response itself (for streams such as logs); throws on an error status. */
  async raw(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<Response> {
    const headers: Record<string, string> = {};
    const streaming = body instanceof ReadableStream;
    if (body !== undefined) headers['Content-Type'] = contentType;
    const token = await this.token();
    if (token) headers.Authorization = `Bearer ${token}`;
    let response: Response;
    try {
      response = await fetch(`${this.login.server}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : streaming ? (body as ReadableStream) : JSON.stringify(body),
        ...(streaming ? { duplex: 'half' } : {}),
      } as RequestInit);
    } catch (error) {
      throw new CliError(`cannot reach ${this.login.server}: ${(error as Error).message}`);
    }
    if (!response.ok) throw new CliError(await errorMessage(response));
    return response;
  }

  private async token(): Promise<string | null> {
    if (this.login.refreshToken === null) return null; // a registry running with --auth none
    if (this.accessToken) return this.accessToken;
    const response = await requestToken(this.login.server, { grant_type: 'refresh_token', refresh_token: this.login.refreshToken }, this.scopes);
    if (!response.ok) throw new CliError(`your login to ${this.login.server} is no longer valid (${await errorMessage(response)}): run \`berth login\` again`);
    this.accessToken = ((await response.json()) as { access_token: string }).access_token;
    return this.accessToken;
  }
}

export { errorMessage };
