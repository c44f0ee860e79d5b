import type { RepositoryAction, Role, ScopeMapRule } from './permissions.js';

/** Who is calling. Tokens carry their scope map's rules; users their roles. */
export type Identity =
  | { kind: 'user'; name: string; roles: Role[]; stamp: string }
  | { kind: 'token'; name: string; rules: ScopeMapRule[]; stamp: string }
  | { kind: 'anonymous' };

/** A Docker access-token grant: `{type: 'repository', name, actions: ['pull','push']}`. */
export interface AccessEntry {
  type: 'repository' | 'registry';
  name: string;
  actions: string[];
}

/** What the authenticator learnt from a request's credentials. */
export interface RequestAuth {
  identity: Identity;
  /** The grants of a Bearer access token; null when credentials were checked directly (Basic, none). */
  access: AccessEntry[] | null;
  /** True when the request carried no credentials at all. */
  anonymous: boolean;
}

export function identityKey(identity: Identity): string {
  return identity.kind === 'anonymous' ? 'anonymous' : `${identity.kind}:${identity.name}`;
}

export function describeIdentity(identity: Identity): string {
  return identity.kind === 'anonymous' ? 'anonymous' : identity.name;
}

export type { RepositoryAction };
