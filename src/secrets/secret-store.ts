import type { Kysely } from 'kysely';
import type { Database } from '../metadata/sql/schema.js';
import { RegistryError } from '../registry/errors.js';
import type { SecretCipher } from './secret-cipher.js';

export interface SecretInfo {
  name: string;
  createdAt: string;
  updatedAt: string;
}

const namePattern = /^[a-zA-Z0-9][a-zA-Z0-9._-]{0,126}$/;

/**
 * Named secrets, encrypted at rest; no API ever returns a value. Tasks use them through
 * `secrets:` in task files, task credentials and `--set-secret`.
 */
export class SecretStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly cipher: SecretCipher,
  ) {}

  async set(name: string, value: string): Promise<SecretInfo> {
    if (!namePattern.test(name)) throw new RegistryError('INVALID_REQUEST', 'secret names are letters, digits, ".", "_" or "-" (at most 127)');
    const now = new Date().toISOString();
    const existing = await this.db.selectFrom('secrets').select('created_at').where('name', '=', name).executeTakeFirst();
    const row = { name, sealed: this.cipher.encrypt(value), created_at: existing?.created_at ?? now, updated_at: now };
    await this.db.insertInto('secrets').values(row).onConflict((oc) => oc.column('name').doUpdateSet(row)).execute();
    return { name, createdAt: row.created_at, updatedAt: now };
  }

  async list(): Promise<SecretInfo[]> {
    const rows = await this.db.selectFrom('secrets').select(['name', 'created_at', 'updated_at']).orderBy('name').execute();
    return rows.map((r) => ({ name: r.name, createdAt: r.created_at, updatedAt: r.updated_at }));
  }

  async delete(name: string): Promise<void> {
    const result = await this.db.deleteFrom('secrets').where('name', '=', name).executeTakeFirst();
    if (result.numDeletedRows === 0n) throw new RegistryError('NOT_FOUND', `secret "${name}" not found`);
  }

  /** For runs only: the decrypted value. */
  async reveal(name: string): Promise<string> {
    const row = await this.db.selectFrom('secrets').select('sealed').where('name', '=', name).executeTakeFirst();
    if (!row) throw new RegistryError('NOT_FOUND', `secret "${name}" not found`);
    return this.cipher.decrypt(row.sealed);
  }

  seal(value: string): string {
    return this.cipher.encrypt(value);
  }

  open(sealed: string): string {
    return this.cipher.decrypt(sealed);
  }
}

/** ACR files name Key Vault secrets by URL (`https://v.vault.azure.net/secrets/NAME[/version]`); Berth maps that to secret NAME. */
export function secretNameOf(reference: string): string {
  const vault = /\/secrets\/([^/?#]+)/.exec(reference);
  return vault ? vault[1]! : reference.replace(/^secret:/, '');
}
