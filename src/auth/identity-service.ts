import { createHash } from 'node:crypto';
import type { AuthStore, TokenPassword, TokenRecord, UserRecord } from './auth-store.js';
import type { Identity } from './identity.js';
import { verifySecret } from './passwords.js';
import { actionsFromRoles, actionsFromRules, type RepositoryAction } from './permissions.js';

interface CachedLogin {
  identity: Identity;
  expiresAt: number;
}

/** Successful password checks are remembered briefly: scrypt is deliberately slow. */
const loginCacheMs = 60_000;
const loginCacheMax = 10_000;

/**
 * Turns credentials into identities and identities into permissions. Every change to users,
 * tokens or scope maps must call `invalidate()` so cached logins pick it up at once.
 */
export class IdentityService {
  private readonly logins = new Map<string, CachedLogin>();

  constructor(private readonly store: AuthStore) {}

  invalidate(): void {
    this.logins.clear();
  }

  /** Checks a name and password (a user's, or one of a token's two). Null when they do not match. */
  async verifyPassword(name: string, password: string): Promise<Identity | null> {
    const key = createHash('sha256').update(`${name}\0${password}`).digest('hex');
    const cached = this.logins.get(key);
    if (cached && cached.expiresAt > Date.now()) return cached.identity;
    const identity = await this.checkPassword(name, password);
    if (identity) {
      if (this.logins.size >= loginCacheMax) this.logins.clear();
      this.logins.set(key, { identity, expiresAt: Date.now() + loginCacheMs });
    }
    return identity;
  }

  /** The identity as it is now, if it still exists, is enabled, and its credential stamp still holds. */
  async currentIdentity(kind: 'user' | 'token', name: string, stamp?: string): Promise<Identity | null> {
    if (kind === 'user') {
      const user = await this.store.getUser(name);
      if (!user || !user.enabled || (stamp !== undefined && user.passwordChangedAt !== stamp)) return null;
      return userIdentity(user);
    }
    const token = await this.store.getToken(name);
    if (!token || !isTokenUsable(token)) return null;
    for (const slot of ['password1', 'password2'] as const) {
      const password = token[slot];
      if (password && isPasswordUsable(password) && (stamp === undefined || stamp === passwordStamp(slot, password))) {
        return this.tokenIdentity(token, passwordStamp(slot, password));
      }
    }
    return null;
  }

  async repositoryActions(identity: Identity, repository: string): Promise<Set<RepositoryAction>> {
    if (identity.kind === 'user') return actionsFromRoles(identity.roles);
    if (identity.kind === 'token') return actionsFromRules(identity.rules, repository);
    return new Set();
  }

  /** ACR: users with any role may list the catalog; token holders may not. */
  canListCatalog(identity: Identity): boolean {
    return identity.kind === 'user' && identity.roles.length > 0;
  }

  isOwner(identity: Identity): boolean {
    return identity.kind === 'user' && identity.roles.includes('Owner');
  }

  /**
   * Every check costs the same whatever the name is: both stores are asked, and exactly two scrypt
   * verifications run side by side (a token's two passwords; a user's hash and a dummy; two dummies
   * for a name that does not exist), even for a disabled or expired identity. Otherwise the time a
   * failure takes would tell which names exist.
   */
  private async checkPassword(name: string, password: string): Promise<Identity | null> {
    const [user, token] = await Promise.all([this.store.getUser(name), this.store.getToken(name)]);
    const slots = ['password1', 'password2'] as const;
    // Expiry is judged as of the request, not of the end of the (slow) hashing.
    const usable = slots.map((slot) => (token && isTokenUsable(token) && token[slot] && isPasswordUsable(token[slot]) ? token[slot] : null));
    const hashes = user ? [user.passwordHash, null] : slots.map((slot) => token?.[slot]?.hash ?? null);
    const matches = await Promise.all(hashes.map((hash) => verifySecret(password, hash)));
    if (user) return user.enabled && matches[0] ? userIdentity(user) : null;
    for (const [index, slot] of slots.entries()) {
      const stored = usable[index];
      if (stored && matches[index]) return this.tokenIdentity(token!, passwordStamp(slot, stored));
    }
    return null;
  }

  private async tokenIdentity(token: TokenRecord, stamp: string): Promise<Identity | null> {
    const map = await this.store.getScopeMap(token.scopeMap);
    return { kind: 'token', name: token.name, rules: map?.rules ?? [], stamp };
  }
}

function userIdentity(user: UserRecord): Identity {
  return { kind: 'user', name: user.name, roles: user.roles, stamp: user.passwordChangedAt };
}

function isTokenUsable(token: TokenRecord): boolean {
  return token.enabled && (token.expiresAt === null || Date.parse(token.expiresAt) > Date.now());
}

function isPasswordUsable(password: TokenPassword): boolean {
  return password.expiresAt === null || Date.parse(password.expiresAt) > Date.now();
}

function passwordStamp(slot: string, password: TokenPassword): string {
  return `${slot}@${password.createdAt}`;
}
