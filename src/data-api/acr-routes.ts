import { matchPathRoute } from '../registry-api/routes.js';

/**
 * ACR data API paths (`/acr/v1/...`). Repository names contain `/`, so, as for /v2, routes are
 * matched on the path's suffix (`/_tags`, `/_manifests/<digest>`) rather than by the router.
 */
export type AcrRoute =
  | { kind: 'catalog' }
  | { kind: 'repository'; name: string }
  | { kind: 'tags'; name: string }
  | { kind: 'tag'; name: string; tag: string }
  | { kind: 'manifests'; name: string }
  | { kind: 'manifest'; name: string; reference: string };

const patterns: Array<[RegExp, (m: RegExpExecArray) => AcrRoute]> = [
  [/^\/acr\/v1\/_catalog$/, () => ({ kind: 'catalog' })],
  [/^\/acr\/v1\/(.+)\/_tags$/, (m) => ({ kind: 'tags', name: m[1]! })],
  [/^\/acr\/v1\/(.+)\/_tags\/([^/]+)$/, (m) => ({ kind: 'tag', name: m[1]!, tag: m[2]! })],
  [/^\/acr\/v1\/(.+)\/_manifests$/, (m) => ({ kind: 'manifests', name: m[1]! })],
  [/^\/acr\/v1\/(.+)\/_manifests\/([^/]+)$/, (m) => ({ kind: 'manifest', name: m[1]!, reference: m[2]! })],
  [/^\/acr\/v1\/([^_][^]*)$/, (m) => ({ kind: 'repository', name: m[1]! })],
];

export function matchAcrRoute(path: string): AcrRoute | null {
  return matchPathRoute(patterns, path);
}

/** The methods each route answers, and the right each needs (ACR: metadata write is push). */
export const acrMethods: Record<AcrRoute['kind'], Partial<Record<string, 'catalog' | 'pull' | 'push' | 'delete'>>> = {
  catalog: { GET: 'catalog' },
  repository: { GET: 'pull', PATCH: 'push', DELETE: 'delete' },
  tags: { GET: 'pull' },
  tag: { GET: 'pull', PATCH: 'push', DELETE: 'delete' },
  manifests: { GET: 'pull' },
  manifest: { GET: 'pull', PATCH: 'push', DELETE: 'delete' },
};
