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
   * A failed check costs the same whatever the name is: both stores are asked, and exactly two
   * scrypt verifications run, one after the other (a user's hash and a dummy; a token's two
   * passwords; two dummies for a name that does not exist), also for a disabled or expired
   * identity. Otherwise the time a failure takes would tell which names exist. Only a success may
   * stop at its first match, so a user's login costs one scrypt, as before.
   */
  private async checkPassword(name: string, password: string): Promise<Identity | null> {
    const [user, token] = await Promise.all([this.store.getUser(name), this.store.getToken(name)]);
    // Expiry is judged as of the request, not of the end of the (slow) hashing.
    const candidates: Array<{ hash: string | null; accept: (() => Promise<Identity | null>) | null }> = user
      ? [{ hash: user.passwordHash, accept: user.enabled ? async () => userIdentity(user) : null }, { hash: null, accept: null }]
      : (['password1', 'password2'] as const).map((slot) => {
          const stored = token?.[slot] ?? null;
          const usable = token && stored && isTokenUsable(token) && isPasswordUsable(stored);
          return { hash: stored?.hash ?? null, accept: usable ? () => this.tokenIdentity(token, passwordStamp(slot, stored)) : null };
        });
    for (const { hash, accept } of candidates) {
      if ((await verifySecret(password, hash)) && accept) return accept();
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
