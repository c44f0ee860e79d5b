import { createCipheriv, createDecipheriv, createHash, randomBytes, scryptSync } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * AES-256-GCM for secrets at rest. The key comes from BERTH_SECRET_KEY or a key file given at
 * start; without either, one is generated once into the data directory (mode 0600).
 */
export class SecretCipher {
  readonly keyId: string;

  constructor(private readonly key: Buffer) {
    this.keyId = createHash('sha256').update(key).digest('hex').slice(0, 12);
  }

  static fromSettings(options: { keyText?: string | undefined; keyFile?: string | undefined; dataDir: string }): { cipher: SecretCipher; generatedFile: string | null } {
    if (options.keyText) return { cipher: new SecretCipher(deriveKey(options.keyText)), generatedFile: null };
    const file = options.keyFile ?? join(options.dataDir, 'secret.key');
    if (existsSync(file)) return { cipher: new SecretCipher(deriveKey(readFileSync(file, 'utf8').trim())), generatedFile: null };
    if (options.keyFile) throw new Error(`secret key file ${options.keyFile} does not exist`);
    const generated = randomBytes(32).toString('base64');
    writeFileSync(file, `${generated}\n`, { mode: 0o600 });
    return { cipher: new SecretCipher(deriveKey(generated)), generatedFile: file };
  }

  encrypt(value: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const ciphertext = Buffer.concat([cipher.update(value, 'utf8'), cipher.final()]);
    return ['v1', this.keyId, iv.toString('base64'), cipher.getAuthTag().toString('base64'), ciphertext.toString('base64')].join(':');
  }

  decrypt(sealed: string): string {
    const [version, keyId, iv, tag, ciphertext] = sealed.split(':');
    if (version !== 'v1' || !iv || !tag || ciphertext === undefined) throw new Error('not a sealed secret');
    if (keyId !== this.keyId) throw new Error('this secret was sealed with another key (BERTH_SECRET_KEY changed?)');
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64'));
    decipher.setAuthTag(Buffer.from(tag, 'base64'));
    return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64')), decipher.final()]).toString('utf8');
  }
}

/** A 32-byte base64 key is used as is; any other text is stretched with scrypt. */
function deriveKey(text: string): Buffer {
  const raw = Buffer.from(text, 'base64');
  if (raw.length === 32 && raw.toString('base64') === text) return raw;
  return scryptSync(text, 'berth-secret-store', 32);
}
