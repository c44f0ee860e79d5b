import type { FastifyRequest } from 'fastify';

const wildcardHosts = new Set(['0.0.0.0', '::', '']);
const hostShape = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})|\[[0-9A-Fa-f:.]+\])(?::(\d{1,5}))?$/;

export interface TokenRealmOptions {
  /** The URL clients use to reach the registry (BERTH_PUBLIC_URL), when configured. */
  publicUrl: URL | null;
  listenHost: string;
  tls: boolean;
  /** The port actually bound (the configured one may be 0). */
  boundPort: () => number;
}

/**
 * Where clients fetch tokens (the challenge's realm) and whom tokens are for (the service,
 * which is the token's audience). Both come from configuration, never from the request alone:
 * a realm that echoed any Host header would send clients' passwords wherever a forged Host
 * pointed, and an audience taken from the Host would make tokens valid for any name.
 */
export class TokenRealm {
  constructor(private readonly options: TokenRealmOptions) {}

  /** The service name and audience: the public URL's host, else the listen address. */
  service(): string {
    if (this.options.publicUrl) return this.options.publicUrl.host;
    return `${bracketed(this.options.listenHost)}:${this.options.boundPort()}`;
  }

  realm(request: FastifyRequest): string {
    if (this.options.publicUrl) return new URL('oauth2/token', withSlash(this.options.publicUrl)).href;
    const scheme = this.options.tls ? 'https' : 'http';
    const port = this.options.boundPort();
    if (!wildcardHosts.has(this.options.listenHost)) return `${scheme}://${bracketed(this.options.listenHost)}:${port}/oauth2/token`;
    // Listening on every interface with no public URL: no one address is right for every client,
    // so the realm names the host the client used, but only a well-formed one on this port.
    const host = request.headers.host ?? '';
    const match = hostShape.exec(host);
    if (match && Number(match[1] ?? (this.options.tls ? 443 : 80)) === port) return `${scheme}://${host}/oauth2/token`;
    return `${scheme}://127.0.0.1:${port}/oauth2/token`;
  }
}

function bracketed(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

function withSlash(url: URL): URL {
  return url.pathname.endsWith('/') ? url : new URL(`${url.href}/`);
}
