import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';

/** Every stored blob's content must hash to the digest it is stored under. */
export async function corruptBlobs(dataDir: string): Promise<string[]> {
  const bad: string[] = [];
  const root = join(dataDir, 'blobs');
  if (!existsSync(root)) return bad;
  for (const algorithm of readdirSync(root)) {
    for (const prefix of readdirSync(join(root, algorithm))) {
      for (const hex of readdirSync(join(root, algorithm, prefix))) {
        const path = join(root, algorithm, prefix, hex);
        if (!statSync(path).isFile()) continue;
        const hash = createHash(algorithm);
        for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
        if (hash.digest('hex') !== hex) bad.push(`${algorithm}:${hex}`);
      }
    }
  }
  return bad;
}

export function sqliteIntegrity(dataDir: string): string {
  const db = new BetterSqlite3(join(dataDir, 'metadata.db'), { readonly: true });
  try {
    return (db.pragma('integrity_check', { simple: true }) as string) ?? 'no answer';
  } finally {
    db.close();
  }
}
