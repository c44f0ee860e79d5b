/**
 * ACR's permission model: repository actions granted by built-in roles (users) or scope maps
 * (tokens), and their mapping to the Docker token scopes (`repository:<name>:pull,push,delete`).
 */

export const repositoryActions = ['content/read', 'content/write', 'content/delete', 'metadata/read', 'metadata/write'] as const;
export type RepositoryAction = (typeof repositoryActions)[number];

export const roles = ['AcrPull', 'AcrPush', 'AcrDelete', 'Owner'] as const;
export type Role = (typeof roles)[number];

export type DockerAction = 'pull' | 'push' | 'delete';

export interface ScopeMapRule {
  /** Exact name, `prefix/*`, or `*` (whole registry). */
  repository: string;
  actions: RepositoryAction[];
}

const roleActions: Record<Role, RepositoryAction[]> = {
  AcrPull: ['content/read', 'metadata/read'],
  AcrPush: ['content/read', 'content/write', 'metadata/read'],
  AcrDelete: ['content/delete', 'metadata/read'],
  Owner: [...repositoryActions],
};

export const systemScopeMaps: Record<string, { description: string; rules: ScopeMapRule[] }> = {
  _repositories_pull: { description: 'Can pull any repository of the registry', rules: [{ repository: '*', actions: ['content/read', 'metadata/read'] }] },
  _repositories_push: {
    description: 'Can push to any repository of the registry',
    rules: [{ repository: '*', actions: ['content/read', 'content/write', 'metadata/read'] }],
  },
  _repositories_admin: { description: 'Can perform all read, write and delete operations on the registry', rules: [{ repository: '*', actions: [...repositoryActions] }] },
};

export function isRole(value: string): value is Role {
  return (roles as readonly string[]).includes(value);
}

export function isRepositoryAction(value: string): value is RepositoryAction {
  return (repositoryActions as readonly string[]).includes(value);
}

/** Valid patterns: an exact repository, one trailing `/*`, or `*` alone (as ACR). */
export function isRepositoryPattern(pattern: string): boolean {
  if (pattern === '*') return true;
  const base = pattern.endsWith('/*') ? pattern.slice(0, -2) : pattern;
  return base.length > 0 && !base.includes('*');
}

export function patternMatches(pattern: string, repository: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('/*')) return repository.startsWith(pattern.slice(0, -1));
  return pattern === repository;
}

export function actionsFromRoles(userRoles: Role[]): Set<RepositoryAction> {
  return new Set(userRoles.flatMap((r) => roleActions[r]));
}

/** Rules are additive: every matching rule contributes its actions. */
export function actionsFromRules(rules: ScopeMapRule[], repository: string): Set<RepositoryAction> {
  return new Set(rules.filter((r) => patternMatches(r.repository, repository)).flatMap((r) => r.actions));
}

export const dockerToRepositoryAction: Record<DockerAction, RepositoryAction> = {
  pull: 'content/read',
  push: 'content/write',
  delete: 'content/delete',
};

export function dockerActionsFor(actions: Set<RepositoryAction>): DockerAction[] {
  return (Object.keys(dockerToRepositoryAction) as DockerAction[]).filter((a) => actions.has(dockerToRepositoryAction[a]));
}

/**
 * Parses Docker token scopes (`repository:samples/app:pull,push`, `repository:x:*`,
 * `registry:catalog:*`). The name may itself contain `:` only in theory; type is the first field
 * and actions the last. Several scopes may share one parameter separated by spaces.
 */
export interface RequestedScope {
  type: 'repository' | 'registry';
  name: string;
  actions: string[];
}

export function parseScopes(values: string[]): RequestedScope[] {
  const scopes: RequestedScope[] = [];
  for (const value of values.flatMap((v) => v.split(' ')).filter(Boolean)) {
    const first = value.indexOf(':');
    const last = value.lastIndexOf(':');
    if (first < 0 || last === first) continue;
    const type = value.slice(0, first);
    if (type !== 'repository' && type !== 'registry') continue;
    scopes.push({ type, name: value.slice(first + 1, last), actions: value.slice(last + 1).split(',').filter(Boolean) });
  }
  return scopes;
}
