import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql, type Kysely } from 'kysely';
import { openSqliteDatabase } from '../../src/metadata/sql/sqlite.js';
import { PreparedQuery } from '../../src/metadata/sql/prepared-query.js';
import type { Database } from '../../src/metadata/sql/schema.js';

describe('prepared queries (compiled once, run with new arguments)', () => {
  let dir: string;
  let db: Kysely<Database>;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'berth-prepared-'));
    db = await openSqliteDatabase(join(dir, 'metadata.db'));
    const at = '2026-01-01T00:00:00.000Z';
    await db
      .insertInto('repositories')
      .values(['alpha', 'beta', 'gamma'].map((name) => ({ name, created_at: at, updated_at: at })))
      .execute();
  });

  after(async () => {
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('each run binds its own arguments, and the constants of the query stay', async () => {
    // The limit and the `!=` are constants compiled into the query's parameters too.
    const query = new PreparedQuery(db, 1, (name: string) =>
      db.selectFrom('repositories').select('name').where('name', '>=', name).where('name', '!=', 'gamma').orderBy('name').limit(5),
    );
    assert.deepEqual((await query.rows('alpha')).map((r) => r.name), ['alpha', 'beta']);
    assert.deepEqual((await query.rows('beta')).map((r) => r.name), ['beta']);
    assert.equal(await query.first('zeta'), undefined);
  });

  it('an argument used twice is bound in both places', async () => {
    const query = new PreparedQuery(db, 2, (low: string, high: string) =>
      db.selectFrom('repositories').select('name').where((eb) => eb.or([eb('name', '=', low), eb('name', '=', high), eb('name', '=', low)])).orderBy('name'),
    );
    assert.deepEqual((await query.rows('alpha', 'gamma')).map((r) => r.name), ['alpha', 'gamma']);
  });

  it('runs in a transaction, and an update changes only the rows its arguments name', async () => {
    const rename = new PreparedQuery(db, 2, (at: string, name: string) => db.updateTable('repositories').set({ updated_at: at }).where('name', '=', name));
    await db.transaction().execute(async (trx) => {
      const result = await rename.executeIn(trx, '2026-02-02T00:00:00.000Z', 'beta');
      assert.equal(result.numAffectedRows, 1n);
    });
    const rows = await db.selectFrom('repositories').select(['name', 'updated_at']).orderBy('name').execute();
    assert.deepEqual(rows.map((r) => r.updated_at), ['2026-01-01T00:00:00.000Z', '2026-02-02T00:00:00.000Z', '2026-01-01T00:00:00.000Z']);
  });

  it('refuses a builder that changes an argument or leaves one out, when prepared', () => {
    assert.throws(
      () => new PreparedQuery(db, 1, (prefix: string) => db.selectFrom('repositories').select('name').where('name', 'like', `${prefix}%`)),
      /argument 0 is (changed by the builder|not a parameter)/,
    );
    assert.throws(
      () => new PreparedQuery<[string, string], { name: string }>(db, 2, (name: string) => db.selectFrom('repositories').select('name').where('name', '=', name)),
      /argument 1 is not a parameter/,
    );
  });

  it('an argument inside a raw SQL fragment is bound too', async () => {
    const query = new PreparedQuery(db, 1, (name: string) => db.selectFrom('repositories').select(sql<string>`upper(${name})`.as('loud')).limit(1));
    assert.equal((await query.first('beta'))?.loud, 'BETA');
    assert.equal((await query.first('gamma'))?.loud, 'GAMMA');
  });
});
