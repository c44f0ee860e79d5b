import type { AuthStore, ScopeMapRecord, TokenPassword, TokenRecord, UserRecord } from './auth-store.js';
import type { AuditContext, AuditLog } from '../audit/audit-log.js';
import type { IdentityService } from './identity-service.js';
import type { RegistrySettings } from './registry-settings.js';
import type { TokenService } from './token-service.js';
import { generatePassword, hashSecret } from './passwords.js';
import { isRepositoryAction, isRepositoryPattern, isRole, systemScopeMaps, type Role, type ScopeMapRule } from './permissions.js';
import { RegistryError } from '../registry/errors.js';

export const adminUserName = 'admin';
const namePattern = /^[a-zA-Z0-9][a-zA-Z0-9-]{4,49}$/;
const userNamePattern = /^[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}$/;

export interface TokenView {
  name: string;
  scopeMap: string;
  status: 'enabled' | 'disabled';
  expiry: string | null;
  creationDate: string;
  credentials: { passwords: Array<{ name: 'password1' | 'password2'; creationTime: string; expiry: string | null; value?: string }> };
}

export interface UserView {
  name: string;
  roles: Role[];
  enabled: boolean;
  creationDate: string;
}

const invalid = (message: string, detail?: unknown): RegistryError => new RegistryError('INVALID_REQUEST', message, detail);
const notFound = (what: string, name: string): RegistryError => new RegistryError('NOT_FOUND', `${what} "${name}" not found`, { name });
const conflict = (message: string): RegistryError => new RegistryError('CONFLICT', message);

/**
 * Everything an administrator changes about access: users and roles, tokens and their passwords,
 * scope maps, the admin user, anonymous pull and signing keys. Each change is audited and
 * invalidates cached logins.
 */
export class AccessManagement {
  constructor(
    private readonly store: AuthStore,
    private readonly identities: IdentityService,
    private readonly tokens: TokenService,
    private readonly settings: RegistrySettings,
    private readonly audit: AuditLog,
  ) {}

  // ---- users ---------------------------------------------------------------------------------

  async listUsers(): Promise<UserView[]> {
    return (await this.store.listUsers()).map(userView);
  }

  async createUser(ctx: AuditContext, input: { name: string; password?: string; roles: string[] }): Promise<{ user: UserView; password?: string }> {
    if (!userNamePattern.test(input.name)) throw invalid('user names are 1-64 letters, digits, ".", "_" or "-"');
    const roles = parseRoles(input.roles);
    if ((await this.store.getUser(input.name)) || (await this.store.getToken(input.name))) throw conflict(`"${input.name}" is already a user or token`);
    const password = input.password ?? generatePassword();
    if (password.length < 8) throw invalid('passwords must have at least 8 characters');
    const now = new Date().toISOString();
    const user: UserRecord = { name: input.name, passwordHash: await hashSecret(password), roles, enabled: true, passwordChangedAt: now, createdAt: now };
    await this.store.putUser(user);
    await this.changed(ctx, 'user.created', input.name, { roles });
    return { user: userView(user), ...(input.password === undefined ? { password } : {}) };
  }

  async deleteUser(ctx: AuditContext, name: string): Promise<void> {
    if (name === adminUserName) throw invalid('the admin user cannot be deleted; disable it instead');
    if (!(await this.store.deleteUser(name))) throw notFound('user', name);
    await this.changed(ctx, 'user.deleted', name);
  }

  async setRoles(ctx: AuditContext, name: string, roleNames: string[]): Promise<UserView> {
    const user = await this.store.getUser(name);
    if (!user) throw notFound('user', name);
    const roles = parseRoles(roleNames);
    await this.store.putUser({ ...user, roles });
    await this.changed(ctx, 'user.roles_changed', name, { from: user.roles, to: roles });
    return userView({ ...user, roles });
  }

  // ---- admin user ----------------------------------------------------------------------------

  async adminCredentials(): Promise<{ username: string; enabled: boolean; passwordCreationTime: string }> {
    const admin = await this.requireUser(adminUserName);
    return { username: admin.name, enabled: admin.enabled, passwordCreationTime: admin.passwordChangedAt };
  }

  async regenerateAdminPassword(ctx: AuditContext): Promise<{ username: string; password: string }> {
    const admin = await this.requireUser(adminUserName);
    const password = generatePassword();
    await this.store.putUser({ ...admin, passwordHash: await hashSecret(password), passwordChangedAt: new Date().toISOString() });
    await this.changed(ctx, 'admin.password_regenerated', adminUserName);
    return { username: adminUserName, password };
  }

  async setAdminEnabled(ctx: AuditContext, enabled: boolean): Promise<void> {
    const admin = await this.requireUser(adminUserName);
    if (!enabled && ctx.actor === adminUserName) {
      const otherOwners = (await this.store.listUsers()).filter((u) => u.name !== adminUserName && u.enabled && u.roles.includes('Owner'));
      if (otherOwners.length === 0) throw conflict('disabling the admin user would leave no enabled Owner');
    }
    await this.store.putUser({ ...admin, enabled });
    await this.changed(ctx, enabled ? 'admin.enabled' : 'admin.disabled', adminUserName);
  }

  // ---- scope maps ----------------------------------------------------------------------------

  listScopeMaps(): Promise<ScopeMapRecord[]> {
    return this.store.listScopeMaps();
  }

  async getScopeMap(name: string): Promise<ScopeMapRecord> {
    const map = await this.store.getScopeMap(name);
    if (!map) throw notFound('scope map', name);
    return map;
  }

  async createScopeMap(ctx: AuditContext, input: { name: string; description?: string; rules: ScopeMapRule[] }): Promise<ScopeMapRecord> {
    if (!namePattern.test(input.name)) throw invalid('scope map names are 5-50 letters, digits or "-"');
    if (await this.store.getScopeMap(input.name)) throw conflict(`scope map "${input.name}" already exists`);
    const map: ScopeMapRecord = {
      name: input.name,
      description: validateDescription(input.description ?? ''),
      rules: validateRules(input.rules),
      system: false,
      createdAt: new Date().toISOString(),
    };
    await this.store.putScopeMap(map);
    await this.changed(ctx, 'scope_map.created', map.name, { rules: map.rules });
    return map;
  }

  async updateScopeMap(
    ctx: AuditContext,
    name: string,
    change: { description?: string; addRules?: ScopeMapRule[]; removeRules?: ScopeMapRule[] },
  ): Promise<ScopeMapRecord> {
    const map = await this.getScopeMap(name);
    if (map.system) throw invalid('system scope maps cannot be changed');
    let rules = map.rules.map((r) => ({ ...r, actions: [...r.actions] }));
    for (const remove of validateRules(change.removeRules ?? [], true)) {
      rules = rules
        .map((r) => (r.repository === remove.repository ? { ...r, actions: r.actions.filter((a) => !remove.actions.includes(a)) } : r))
        .filter((r) => r.actions.length > 0);
    }
    for (const add of validateRules(change.addRules ?? [], true)) {
      const existing = rules.find((r) => r.repository === add.repository);
      if (existing) existing.actions = [...new Set([...existing.actions, ...add.actions])];
      else rules.push(add);
    }
    const updated = { ...map, rules, description: change.description === undefined ? map.description : validateDescription(change.description) };
    await this.store.putScopeMap(updated);
    await this.changed(ctx, 'scope_map.updated', name, { from: map.rules, to: rules });
    return updated;
  }

  async deleteScopeMap(ctx: AuditContext, name: string): Promise<void> {
    const map = await this.getScopeMap(name);
    if (map.system) throw invalid('system scope maps cannot be deleted');
    const users = (await this.store.listTokens()).filter((t) => t.scopeMap === name).map((t) => t.name);
    if (users.length > 0) throw conflict(`scope map "${name}" is used by tokens: ${users.join(', ')}`);
    await this.store.deleteScopeMap(name);
    await this.changed(ctx, 'scope_map.deleted', name);
  }

  // ---- tokens --------------------------------------------------------------------------------

  async listTokens(): Promise<TokenView[]> {
    return (await this.store.listTokens()).map((t) => tokenView(t));
  }

  async getToken(name: string): Promise<TokenView> {
    return tokenView(await this.requireToken(name));
  }

  async createToken(
    ctx: AuditContext,
    input: { name: string; scopeMap?: string; rules?: ScopeMapRule[]; enabled?: boolean; expiresAt?: string | null; noPasswords?: boolean },
  ): Promise<TokenView> {
    if (!namePattern.test(input.name)) throw invalid('token names are 5-50 letters, digits or "-"');
    if ((await this.store.getToken(input.name)) || (await this.store.getUser(input.name))) throw conflict(`"${input.name}" is already a user or token`);
    if ((input.scopeMap === undefined) === (input.rules === undefined)) throw invalid('give either a scope map or repository permissions');
    let scopeMap = input.scopeMap;
    if (scopeMap !== undefined) await this.getScopeMap(scopeMap);
    else {
      scopeMap = `${input.name}-scope-map`;
      const own = await this.store.getScopeMap(scopeMap);
      if (own) throw conflict(`scope map "${scopeMap}" already exists`);
      await this.createScopeMap(ctx, { name: scopeMap, description: `Scope map of token ${input.name}`, rules: input.rules! });
    }
    const now = new Date().toISOString();
    const expiresAt = validateExpiry(input.expiresAt ?? null);
    const token: TokenRecord = { name: input.name, scopeMap, enabled: input.enabled ?? true, expiresAt, password1: null, password2: null, createdAt: now };
    const shown: Record<string, string> = {};
    if (!input.noPasswords) {
      for (const slot of ['password1', 'password2'] as const) {
        shown[slot] = generatePassword();
        token[slot] = { hash: await hashSecret(shown[slot]!), createdAt: now, expiresAt };
      }
    }
    await this.store.putToken(token);
    await this.changed(ctx, 'token.created', token.name, { scopeMap, enabled: token.enabled, expiresAt });
    return tokenView(token, shown);
  }

  async updateToken(ctx: AuditContext, name: string, change: { enabled?: boolean; scopeMap?: string; expiresAt?: string | null }): Promise<TokenView> {
    const token = await this.requireToken(name);
    if (change.scopeMap !== undefined) await this.getScopeMap(change.scopeMap);
    const updated: TokenRecord = {
      ...token,
      enabled: change.enabled ?? token.enabled,
      scopeMap: change.scopeMap ?? token.scopeMap,
      expiresAt: change.expiresAt === undefined ? token.expiresAt : validateExpiry(change.expiresAt),
    };
    await this.store.putToken(updated);
    await this.changed(ctx, 'token.updated', name, { enabled: updated.enabled, scopeMap: updated.scopeMap, expiresAt: updated.expiresAt });
    return tokenView(updated);
  }

  async deleteToken(ctx: AuditContext, name: string): Promise<void> {
    const token = await this.requireToken(name);
    await this.store.deleteToken(name);
    // A scope map made for this token alone goes with it.
    if (token.scopeMap === `${name}-scope-map`) await this.store.deleteScopeMap(token.scopeMap);
    await this.changed(ctx, 'token.deleted', name);
  }

  async generateTokenPassword(ctx: AuditContext, name: string, slot: 'password1' | 'password2', expiresAt: string | null): Promise<TokenView> {
    const token = await this.requireToken(name);
    const value = generatePassword();
    const password: TokenPassword = { hash: await hashSecret(value), createdAt: new Date().toISOString(), expiresAt: validateExpiry(expiresAt) };
    const updated = { ...token, [slot]: password };
    await this.store.putToken(updated);
    await this.changed(ctx, 'token.password_generated', name, { password: slot });
    return tokenView(updated, { [slot]: value });
  }

  async deleteTokenPassword(ctx: AuditContext, name: string, slot: 'password1' | 'password2'): Promise<TokenView> {
    const token = await this.requireToken(name);
    const updated = { ...token, [slot]: null };
    await this.store.putToken(updated);
    await this.changed(ctx, 'token.password_deleted', name, { password: slot });
    return tokenView(updated);
  }

  // ---- registry settings, keys, audit --------------------------------------------------------

  async getSettings(): Promise<{ anonymousPullEnabled: boolean }> {
    return { anonymousPullEnabled: await this.settings.anonymousPullEnabled() };
  }

  async setAnonymousPull(ctx: AuditContext, enabled: boolean): Promise<{ anonymousPullEnabled: boolean }> {
    await this.settings.setAnonymousPull(enabled);
    await this.changed(ctx, 'settings.anonymous_pull', null, { enabled });
    return { anonymousPullEnabled: enabled };
  }

  async rotateSigningKey(ctx: AuditContext): Promise<{ kid: string; retired: string[] }> {
    const result = await this.tokens.rotate();
    await this.audit.record(ctx, 'signing_key.rotated', result.kid, { retired: result.retired });
    return result;
  }

  private async changed(ctx: AuditContext, kind: string, target: string | null, detail: Record<string, unknown> | null = null): Promise<void> {
    this.identities.invalidate();
    await this.audit.record(ctx, kind, target, detail);
  }

  private async requireUser(name: string): Promise<UserRecord> {
    const user = await this.store.getUser(name);
    if (!user) throw notFound('user', name);
    return user;
  }

  private async requireToken(name: string): Promise<TokenRecord> {
    const token = await this.store.getToken(name);
    if (!token) throw notFound('token', name);
    return token;
  }
}

/** Creates what a registry needs on first start: system scope maps and the admin user. */
export async function bootstrapAccess(store: AuthStore, adminPassword: string | undefined): Promise<{ generatedAdminPassword: string | null }> {
  const now = new Date().toISOString();
  for (const [name, map] of Object.entries(systemScopeMaps)) {
    if (!(await store.getScopeMap(name))) await store.putScopeMap({ name, description: map.description, rules: map.rules, system: true, createdAt: now });
  }
  if (await store.getUser(adminUserName)) return { generatedAdminPassword: null };
  const password = adminPassword || generatePassword();
  await store.putUser({ name: adminUserName, passwordHash: await hashSecret(password), roles: ['Owner'], enabled: true, passwordChangedAt: now, createdAt: now });
  return { generatedAdminPassword: adminPassword ? null : password };
}

function parseRoles(values: string[]): Role[] {
  if (values.length === 0) throw invalid(`give at least one role (${['AcrPull', 'AcrPush', 'AcrDelete', 'Owner'].join(', ')})`);
  const bad = values.filter((r) => !isRole(r));
  if (bad.length > 0) throw invalid(`unknown roles: ${bad.join(', ')}`);
  return [...new Set(values)] as Role[];
}

function validateRules(rules: ScopeMapRule[], allowEmpty = false): ScopeMapRule[] {
  if (!Array.isArray(rules) || (!allowEmpty && rules.length === 0)) throw invalid('give at least one repository with actions');
  return rules.map((rule) => {
    if (typeof rule?.repository !== 'string' || !isRepositoryPattern(rule.repository)) {
      throw invalid(`invalid repository pattern "${rule?.repository}": use a name, "prefix/*" or "*"`);
    }
    if (!Array.isArray(rule.actions) || rule.actions.length === 0) throw invalid(`no actions for repository "${rule.repository}"`);
    const bad = rule.actions.filter((a) => !isRepositoryAction(a));
    if (bad.length > 0) throw invalid(`unknown actions: ${bad.join(', ')}`);
    return { repository: rule.repository, actions: [...new Set(rule.actions)] };
  });
}

function validateDescription(description: string): string {
  if (description.length > 256) throw invalid('descriptions have at most 256 characters');
  return description;
}

function validateExpiry(value: string | null): string | null {
  if (value === null) return null;
  const time = Date.parse(value);
  if (Number.isNaN(time)) throw invalid(`invalid expiry "${value}": use an ISO 8601 date`);
  return new Date(time).toISOString();
}

function userView(user: UserRecord): UserView {
  return { name: user.name, roles: user.roles, enabled: user.enabled, creationDate: user.createdAt };
}

function tokenView(token: TokenRecord, shown: Record<string, string> = {}): TokenView {
  const passwords: TokenView['credentials']['passwords'] = [];
  for (const slot of ['password1', 'password2'] as const) {
    const password = token[slot];
    if (password) passwords.push({ name: slot, creationTime: password.createdAt, expiry: password.expiresAt, ...(shown[slot] ? { value: shown[slot] } : {}) });
  }
  return {
    name: token.name,
    scopeMap: token.scopeMap,
    status: token.enabled ? 'enabled' : 'disabled',
    expiry: token.expiresAt,
    creationDate: token.createdAt,
    credentials: { passwords },
  };
}
