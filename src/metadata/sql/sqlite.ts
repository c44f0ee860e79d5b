import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { migrateToLatest } from './migrations.js';
import type { Database } from './schema.js';
import { SqlMetadataStore } from './sql-metadata-store.js';

/**
 * Opens (creating if needed) the embedded SQLite metadata database. WAL lets readers (pulls) run
 * while a writer commits. synchronous=NORMAL survives any process crash; a power cut can lose the
 * last commits but never leaves the database inconsistent, and blobs are fsynced on their own.
 */
export async function openSqliteMetadataStore(path: string): Promise<SqlMetadataStore> {
  return new SqlMetadataStore(await openSqliteDatabase(path));
}

/** The Kysely handle on the embedded database, migrated; shared by the metadata and auth stores. */
export async function openSqliteDatabase(path: string): Promise<Kysely<Database>> {
  const database = new BetterSqlite3(path);
  database.pragma('journal_mode = WAL');
  database.pragma('synchronous = NORMAL');
  database.pragma('busy_timeout = 5000');
  database.pragma('foreign_keys = ON');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database }) });
  await migrateToLatest(db, 'sqlite');
  return db;
}
