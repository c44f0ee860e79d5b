import { randomUUID } from 'node:crypto';
import { SignJWT, exportJWK, generateKeyPair, importJWK, jwtVerify, decodeProtectedHeader, type JWK, type JWTPayload } from 'jose';
import type { AuthStore } from './auth-store.js';
import type { AccessEntry } from './identity.js';

const algorithm = 'ES256';
const issuer = 'berth';

export interface TokenLifetimes {
  accessSeconds: number;
  refreshSeconds: number;
}

export interface BerthClaims extends JWTPayload {
  typ: 'access' | 'refresh';
  kind: 'user' | 'token' | 'anonymous';
  access?: AccessEntry[];
  /** Credential stamp of a refresh token: it dies when the password it came from changes. */
  stamp?: string;
}

interface LoadedKey {
  kid: string;
  privateKey: CryptoKey | Uint8Array;
  publicKey: CryptoKey | Uint8Array;
  createdAt: string;
  retiredAt: string | null;
}

/**
 * Signs and verifies Berth's JWTs (Docker access tokens and refresh tokens) with ES256 keys kept
 * in the AuthStore. Rotation starts signing with a new key at once; retired keys keep verifying
 * until every token they signed has expired, so nobody is logged out by a rotation.
 */
export class TokenService {
  private keys: LoadedKey[] = [];
  private readonly verified = new Map<string, BerthClaims>();

  constructor(
    private readonly store: AuthStore,
    readonly lifetimes: TokenLifetimes,
  ) {}

  async init(): Promise<void> {
    await this.reload();
    if (!this.activeKey()) await this.addKey();
  }

  async issueAccess(kind: BerthClaims['kind'], subject: string, access: AccessEntry[], audience: string): Promise<{ token: string; expiresIn: number; issuedAt: string }> {
    const now = Math.floor(Date.now() / 1000);
    const token = await this.sign({ typ: 'access', kind, access }, subject, audience, now, this.lifetimes.accessSeconds);
    return { token, expiresIn: this.lifetimes.accessSeconds, issuedAt: new Date(now * 1000).toISOString() };
  }

  async issueRefresh(kind: 'user' | 'token', subject: string, stamp: string, audience: string): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return this.sign({ typ: 'refresh', kind, stamp }, subject, audience, now, this.lifetimes.refreshSeconds);
  }

  /** Verifies signature, issuer, audience (this registry's service name) and expiry. Throws on any problem. */
  async verify(token: string, audience: string): Promise<BerthClaims> {
    const cached = this.verified.get(token);
    if (cached && (cached.exp ?? 0) * 1000 > Date.now() && cached.aud === audience) return cached;
    const { kid } = decodeProtectedHeader(token);
    let key = this.keys.find((k) => k.kid === kid);
    if (!key) {
      await this.reload(); // another instance may have rotated
      key = this.keys.find((k) => k.kid === kid);
    }
    if (!key) throw new Error('unknown signing key');
    const { payload } = await jwtVerify(token, key.publicKey, { issuer, audience, algorithms: [algorithm] });
    const claims = payload as BerthClaims;
    if (this.verified.size > 10_000) this.verified.clear();
    this.verified.set(token, claims);
    return claims;
  }

  /** Starts signing with a fresh key; drops retired keys whose tokens have all expired. */
  async rotate(): Promise<{ kid: string; retired: string[] }> {
    const now = new Date().toISOString();
    const retired: string[] = [];
    for (const key of this.keys) {
      if (key.retiredAt === null) {
        key.retiredAt = now;
        retired.push(key.kid);
        const stored = (await this.store.listSigningKeys()).find((k) => k.kid === key.kid);
        if (stored) await this.store.putSigningKey({ ...stored, retiredAt: now });
      }
    }
    const horizon = Date.now() - Math.max(this.lifetimes.accessSeconds, this.lifetimes.refreshSeconds) * 1000;
    for (const key of this.keys) {
      if (key.retiredAt !== null && Date.parse(key.retiredAt) < horizon) await this.store.deleteSigningKey(key.kid);
    }
    const kid = await this.addKey();
    return { kid, retired };
  }

  private activeKey(): LoadedKey | undefined {
    return [...this.keys].reverse().find((k) => k.retiredAt === null);
  }

  private async sign(claims: Omit<BerthClaims, 'iss' | 'sub'>, subject: string, audience: string, now: number, ttl: number): Promise<string> {
    let key = this.activeKey();
    if (!key) {
      await this.reload();
      key = this.activeKey();
    }
    if (!key) throw new Error('no active signing key');
    return new SignJWT(claims)
      .setProtectedHeader({ alg: algorithm, kid: key.kid, typ: 'JWT' })
      .setIssuer(issuer)
      .setSubject(subject)
      .setAudience(audience)
      .setIssuedAt(now)
      .setNotBefore(now - 5)
      .setExpirationTime(now + ttl)
      .setJti(randomUUID())
      .sign(key.privateKey);
  }

  private async addKey(): Promise<string> {
    const { privateKey, publicKey } = await generateKeyPair(algorithm, { extractable: true });
    const kid = randomUUID();
    await this.store.putSigningKey({
      kid,
      privateJwk: JSON.stringify(await exportJWK(privateKey)),
      publicJwk: JSON.stringify(await exportJWK(publicKey)),
      createdAt: new Date().toISOString(),
      retiredAt: null,
    });
    await this.reload();
    return kid;
  }

  private async reload(): Promise<void> {
    const records = await this.store.listSigningKeys();
    this.keys = await Promise.all(
      records.map(async (r) => ({
        kid: r.kid,
        privateKey: await importJWK(JSON.parse(r.privateJwk) as JWK, algorithm),
        publicKey: await importJWK(JSON.parse(r.publicJwk) as JWK, algorithm),
        createdAt: r.createdAt,
        retiredAt: r.retiredAt,
      })),
    );
  }
}
