import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/** scrypt parameters: ~50-100 ms per hash on a small server; stored with each hash so they can rise. */
const defaults = { N: 1 << 15, r: 8, p: 1, keyLength: 32 };

function scryptAsync(password: string, salt: Buffer, keyLength: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password, salt, keyLength, options, (error, key) => (error ? reject(error) : resolve(key))),
  );
}

export async function hashSecret(secret: string): Promise<string> {
  const salt = randomBytes(16);
  const { N, r, p, keyLength } = defaults;
  const key = await scryptAsync(secret, salt, keyLength, { N, r, p, maxmem: 256 * N * r });
  return `scrypt$${N}$${r}$${p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/**
 * A stand-in with the same parameters as `hashSecret`'s: checking a password against it costs what
 * checking a real hash costs, and never matches (its key is random, not derived from anything).
 */
const dummyHash = (() => {
  const { N, r, p, keyLength } = defaults;
  return `scrypt$${N}$${r}$${p}$${randomBytes(16).toString('base64')}$${randomBytes(keyLength).toString('base64')}`;
})();

/**
 * Whether `secret` matches `stored`. With `stored` null (no such user, token or password) or
 * unreadable, the check still runs scrypt, against a dummy hash, and answers false: a failure must
 * take as long when the name does not exist as when the password is wrong.
 */
export async function verifySecret(secret: string, stored: string | null): Promise<boolean> {
  const parsed = stored === null ? null : parseHash(stored);
  const { N, r, p, salt, key: expectedKey } = parsed ?? parseHash(dummyHash)!;
  const key = await scryptAsync(secret, salt, expectedKey.length, { N, r, p, maxmem: 256 * N * r });
  return parsed !== null && timingSafeEqual(key, expectedKey);
}

function parseHash(stored: string): { N: number; r: number; p: number; salt: Buffer; key: Buffer } | null {
  const [scheme, n, r, p, salt, key] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !key) return null;
  const params = { N: Number(n), r: Number(r), p: Number(p) };
  if (!Object.values(params).every((v) => Number.isInteger(v) && v > 0)) return null;
  return { ...params, salt: Buffer.from(salt, 'base64'), key: Buffer.from(key, 'base64') };
}

/** A generated password: 32 random bytes, URL-safe, no ambiguity when copied. */
export function generatePassword(): string {
  return randomBytes(32).toString('base64url');
}
