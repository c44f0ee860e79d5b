import type { Kysely, Selectable } from 'kysely';
import type { AuditEvent, AuditQuery, AuthStore, ScopeMapRecord, SigningKeyRecord, TokenRecord, UserRecord } from '../../auth/auth-store.js';
import type { Database, TokensTable, UsersTable } from './schema.js';

/** AuthStore on the same SQL database as the registry metadata. */
export class SqlAuthStore implements AuthStore {
  constructor(private readonly db: Kysely<Database>) {}

  async getUser(name: string): Promise<UserRecord | null> {
    const row = await this.db.selectFrom('users').selectAll().where('name', '=', name).executeTakeFirst();
    return row ? toUser(row) : null;
  }

  async listUsers(): Promise<UserRecord[]> {
    return (await this.db.selectFrom('users').selectAll().orderBy('name').execute()).map(toUser);
  }

  async putUser(user: UserRecord): Promise<void> {
    const row = {
      name: user.name,
      password_hash: user.passwordHash,
      roles: JSON.stringify(user.roles),
      enabled: user.enabled ? 1 : 0,
      password_changed_at: user.passwordChangedAt,
      created_at: user.createdAt,
    };
    await this.db.insertInto('users').values(row).onConflict((oc) => oc.column('name').doUpdateSet(row)).execute();
  }

  async deleteUser(name: string): Promise<boolean> {
    return (await this.db.deleteFrom('users').where('name', '=', name).executeTakeFirst()).numDeletedRows > 0n;
  }

  async getToken(name: string): Promise<TokenRecord | null> {
    const row = await this.db.selectFrom('tokens').selectAll().where('name', '=', name).executeTakeFirst();
    return row ? toToken(row) : null;
  }

  async listTokens(): Promise<TokenRecord[]> {
    return (await this.db.selectFrom('tokens').selectAll().orderBy('name').execute()).map(toToken);
  }

  async putToken(token: TokenRecord): Promise<void> {
    const row = {
      name: token.name,
      scope_map: token.scopeMap,
      enabled: token.enabled ? 1 : 0,
      expires_at: token.expiresAt,
      password1: token.password1 ? JSON.stringify(token.password1) : null,
      password2: token.password2 ? JSON.stringify(token.password2) : null,
      created_at: token.createdAt,
    };
    await this.db.insertInto('tokens').values(row).onConflict((oc) => oc.column('name').doUpdateSet(row)).execute();
  }

  async deleteToken(name: string): Promise<boolean> {
    return (await this.db.deleteFrom('tokens').where('name', '=', name).executeTakeFirst()).numDeletedRows > 0n;
  }

  async getScopeMap(name: string): Promise<ScopeMapRecord | null> {
    const row = await this.db.selectFrom('scope_maps').selectAll().where('name', '=', name).executeTakeFirst();
    return row ? toScopeMap(row) : null;
  }

  async listScopeMaps(): Promise<ScopeMapRecord[]> {
    return (await this.db.selectFrom('scope_maps').selectAll().orderBy('name').execute()).map(toScopeMap);
  }

  async putScopeMap(map: ScopeMapRecord): Promise<void> {
    const row = { name: map.name, description: map.description, rules: JSON.stringify(map.rules), system: map.system ? 1 : 0, created_at: map.createdAt };
    await this.db.insertInto('scope_maps').values(row).onConflict((oc) => oc.column('name').doUpdateSet(row)).execute();
  }

  async deleteScopeMap(name: string): Promise<boolean> {
    return (await this.db.deleteFrom('scope_maps').where('name', '=', name).executeTakeFirst()).numDeletedRows > 0n;
  }

  async listSigningKeys(): Promise<SigningKeyRecord[]> {
    const rows = await this.db.selectFrom('signing_keys').selectAll().orderBy('created_at').execute();
    return rows.map((r) => ({ kid: r.kid, privateJwk: r.private_jwk, publicJwk: r.public_jwk, createdAt: r.created_at, retiredAt: r.retired_at }));
  }

  async putSigningKey(key: SigningKeyRecord): Promise<void> {
    const row = { kid: key.kid, private_jwk: key.privateJwk, public_jwk: key.publicJwk, created_at: key.createdAt, retired_at: key.retiredAt };
    await this.db.insertInto('signing_keys').values(row).onConflict((oc) => oc.column('kid').doUpdateSet(row)).execute();
  }

  async deleteSigningKey(kid: string): Promise<void> {
    await this.db.deleteFrom('signing_keys').where('kid', '=', kid).execute();
  }

  async getSetting<T>(key: string): Promise<T | null> {
    const row = await this.db.selectFrom('settings').select('value').where('key', '=', key).executeTakeFirst();
    return row ? (JSON.parse(row.value) as T) : null;
  }

  async putSetting(key: string, value: unknown): Promise<void> {
    const row = { key, value: JSON.stringify(value) };
    await this.db.insertInto('settings').values(row).onConflict((oc) => oc.column('key').doUpdateSet(row)).execute();
  }

  async appendAudit(events: AuditEvent[]): Promise<void> {
    if (events.length === 0) return;
    await this.db
      .insertInto('audit_events')
      .values(
        events.map((event) => ({
          at: event.at,
          kind: event.kind,
          actor: event.actor,
          client: event.client,
          target: event.target,
          detail: event.detail ? JSON.stringify(event.detail) : null,
        })),
      )
      .execute();
  }

  async queryAudit(query: AuditQuery): Promise<AuditEvent[]> {
    let q = this.db.selectFrom('audit_events').selectAll().orderBy('id', 'desc').limit(query.limit);
    if (query.kind) q = q.where('kind', '=', query.kind);
    if (query.actor) q = q.where('actor', '=', query.actor);
    if (query.target) q = q.where('target', '=', query.target);
    if (query.since) q = q.where('at', '>=', query.since);
    if (query.until) q = q.where('at', '<', query.until);
    return (await q.execute()).map((r) => ({
      id: Number(r.id),
      at: r.at,
      kind: r.kind,
      actor: r.actor,
      client: r.client,
      target: r.target,
      detail: r.detail ? (JSON.parse(r.detail) as Record<string, unknown>) : null,
    }));
  }
}

function toUser(row: Selectable<UsersTable>): UserRecord {
  return {
    name: row.name,
    passwordHash: row.password_hash,
    roles: JSON.parse(row.roles) as UserRecord['roles'],
    enabled: Boolean(row.enabled),
    passwordChangedAt: row.password_changed_at,
    createdAt: row.created_at,
  };
}

function toToken(row: Selectable<TokensTable>): TokenRecord {
  return {
    name: row.name,
    scopeMap: row.scope_map,
    enabled: Boolean(row.enabled),
    expiresAt: row.expires_at,
    password1: row.password1 ? (JSON.parse(row.password1) as TokenRecord['password1']) : null,
    password2: row.password2 ? (JSON.parse(row.password2) as TokenRecord['password2']) : null,
    createdAt: row.created_at,
  };
}

function toScopeMap(row: Selectable<Database['scope_maps']>): ScopeMapRecord {
  return {
    name: row.name,
    description: row.description,
    rules: JSON.parse(row.rules) as ScopeMapRecord['rules'],
    system: Boolean(row.system),
    createdAt: row.created_at,
  };
}
