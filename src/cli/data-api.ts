import { ApiClient, CliError } from './api-client.js';

/** `repo:tag` or `repo@digest`, as az's `--image`; a leading `REGISTRY/` of this login is dropped. */
export interface ImageName {
  repository: string;
  tag?: string;
  digest?: string;
  /** The tag or digest. */
  reference: string;
}

export function parseImage(value: string, server?: string): ImageName {
  const bare = stripRegistry(value, server);
  const at = bare.indexOf('@');
  if (at > 0) return { repository: bare.slice(0, at), digest: bare.slice(at + 1), reference: bare.slice(at + 1) };
  const colon = bare.lastIndexOf(':');
  if (colon > bare.lastIndexOf('/') && colon > 0) return { repository: bare.slice(0, colon), tag: bare.slice(colon + 1), reference: bare.slice(colon + 1) };
  throw new CliError(`"${value}" names no tag or digest: use REPOSITORY:TAG or REPOSITORY@DIGEST`);
}

/** `host/repo` → `repo` when host is this login's registry. */
export function stripRegistry(value: string, server?: string): string {
  if (!server) return value;
  const host = new URL(server).host;
  return value.startsWith(`${host}/`) ? value.slice(host.length + 1) : value;
}

/** az's `time_desc`/`time_asc` → the data API's `timedesc`/`timeasc`. */
export function orderbyParam(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (value === 'time_desc' || value === 'time_asc') return value.replace('_', '');
  throw new CliError(`--orderby must be time_desc or time_asc, not "${value}"`);
}

/** A data API client whose access token holds `scopes` (see ApiClient). */
export function dataClient(scopes: string[]): ApiClient {
  return ApiClient.fromStoredLogin(scopes);
}

export const repositoryScope = (repository: string, actions: string) => `repository:${repository}:${actions}`;
export const catalogScope = 'registry:catalog:*';

/**
 * Every entry of a paged listing (following `Link: <...>; rel="next"`), at most `top`.
 * `field` names the array in each page's answer.
 */
export async function listAll<T>(client: ApiClient, path: string, field: string, query: Record<string, string | undefined>, top?: number): Promise<T[]> {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value !== undefined) params.set(key, value);
  if (top !== undefined) params.set('n', String(Math.min(top, 1000)));
  let next: string | null = `${path}${params.size ? `?${params}` : ''}`;
  const all: T[] = [];
  while (next !== null && (top === undefined || all.length < top)) {
    const response: Response = await client.raw('GET', next);
    const page = ((await response.json()) as Record<string, T[]>)[field] ?? [];
    all.push(...page);
    const link = response.headers.get('link');
    next = link ? /<([^>]+)>/.exec(link)?.[1] ?? null : null;
  }
  return top === undefined ? all : all.slice(0, top);
}

export function topOption(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) throw new CliError(`--top must be a whole number, not "${value}"`);
  return n;
}

export function booleanOption(name: string, value: string | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  if (value === 'true' || value === 'false') return value === 'true';
  throw new CliError(`--${name} must be true or false, not "${value}"`);
}
