import type { Role, ScopeMapRule } from './permissions.js';

export interface UserRecord {
  name: string;
  passwordHash: string;
  roles: Role[];
  enabled: boolean;
  /** Changes whenever the password does, so refresh tokens issued before it stop working. */
  passwordChangedAt: string;
  createdAt: string;
}

export interface TokenPassword {
  hash: string;
  createdAt: string;
  expiresAt: string | null;
}

export interface TokenRecord {
  name: string;
  scopeMap: string;
  enabled: boolean;
  expiresAt: string | null;
  password1: TokenPassword | null;
  password2: TokenPassword | null;
  createdAt: string;
}

export interface ScopeMapRecord {
  name: string;
  description: string;
  rules: ScopeMapRule[];
  system: boolean;
  createdAt: string;
}

export interface SigningKeyRecord {
  kid: string;
  privateJwk: string;
  publicJwk: string;
  createdAt: string;
  retiredAt: string | null;
}

export interface AuditEvent {
  id?: number;
  at: string;
  kind: string;
  actor: string;
  client: string | null;
  target: string | null;
  detail: Record<string, unknown> | null;
}

export interface AuditQuery {
  kind?: string;
  actor?: string;
  target?: string;
  since?: string;
  until?: string;
  limit: number;
}

/** Persistence of identities, permissions, signing keys, registry settings and the audit log. */
export interface AuthStore {
  getUser(name: string): Promise<UserRecord | null>;
  listUsers(): Promise<UserRecord[]>;
  putUser(user: UserRecord): Promise<void>;
  deleteUser(name: string): Promise<boolean>;

  getToken(name: string): Promise<TokenRecord | null>;
  listTokens(): Promise<TokenRecord[]>;
  putToken(token: TokenRecord): Promise<void>;
  deleteToken(name: string): Promise<boolean>;

  getScopeMap(name: string): Promise<ScopeMapRecord | null>;
  listScopeMaps(): Promise<ScopeMapRecord[]>;
  putScopeMap(map: ScopeMapRecord): Promise<void>;
  deleteScopeMap(name: string): Promise<boolean>;

  listSigningKeys(): Promise<SigningKeyRecord[]>;
  putSigningKey(key: SigningKeyRecord): Promise<void>;
  deleteSigningKey(kid: string): Promise<void>;

  getSetting<T>(key: string): Promise<T | null>;
  putSetting(key: string, value: unknown): Promise<void>;

  /** Appends events in one transaction (the audit log batches its writes). */
  appendAudit(events: AuditEvent[]): Promise<void>;
  queryAudit(query: AuditQuery): Promise<AuditEvent[]>;
}
