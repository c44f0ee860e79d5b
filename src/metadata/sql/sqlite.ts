import BetterSqlite3 from 'better-sqlite3';
import { CompiledQuery, Kysely, SqliteDialect, SqliteDriver, type DatabaseConnection, type Driver, type SqliteDatabase } from 'kysely';
import { migrateToLatest } from './migrations.js';
import type { Database } from './schema.js';
import { SqlMetadataStore } from './sql-metadata-store.js';

/**
 * Transactions take the write lock when they begin (BEGIN IMMEDIATE). A deferred transaction that
 * reads and then writes cannot wait for another connection's writer (SQLite answers SQLITE_BUSY at
 * once), while an immediate one waits up to busy_timeout: what several processes (agents) need.
 */
class ImmediateTransactionDriver extends SqliteDriver {
  constructor(private readonly database: BetterSqlite3.Database, config: ConstructorParameters<typeof SqliteDriver>[0]) {
    super(config);
  }

  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }

  /**
   * SQLite rolls a transaction back itself after some errors (SQLITE_FULL among them); a second
   * rollback would fail and hide the error that matters ("cannot rollback - no transaction").
   */
  override async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    if (this.database.inTransaction) await super.rollbackTransaction(connection);
  }
}

class ImmediateSqliteDialect extends SqliteDialect {
  constructor(
    private readonly database: BetterSqlite3.Database,
    private readonly options: ConstructorParameters<typeof SqliteDialect>[0],
  ) {
    super(options);
  }

  override createDriver(): Driver {
    return new ImmediateTransactionDriver(this.database, this.options);
  }
}

/** Distinct statements kept prepared: the queries are a fixed set, bar IN lists and batch inserts. */
const maxCachedStatements = 512;

/**
 * Kysely prepares every query it runs; preparing (parsing and planning the SQL) cost more than
 * running it on the pull path (a manifest GET is one indexed join). The queries are a fixed set
 * of texts with bound parameters, so each is prepared once and reused. better-sqlite3 runs a
 * statement to completion before returning, and Kysely holds the one connection for a whole
 * stream, so one statement is never in use twice at a time. Oldest first out when full.
 */
function withStatementCache(database: BetterSqlite3.Database): SqliteDatabase {
  const statements = new Map<string, BetterSqlite3.Statement>();
  return {
    close: () => database.close(),
    prepare: (sql: string) => {
      let statement = statements.get(sql);
      if (!statement) {
        statement = database.prepare(sql);
        if (statements.size >= maxCachedStatements) statements.delete(statements.keys().next().value!);
        statements.set(sql, statement);
      }
      return statement;
    },
  };
}

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
  const db = new Kysely<Database>({ dialect: new ImmediateSqliteDialect(database, { database: withStatementCache(database) }) });
  await migrateToLatest(db, 'sqlite');
  return db;
}
