import { sql, type Kysely, type RawBuilder, type Selectable, type SqlBool } from 'kysely';
import type {
  AttributeTarget,
  ChangeableAttributes,
  ListingPage,
  ManifestDetail,
  PullTally,
  RepositoryDetail,
  RepositoryMetadataStore,
  RepositoryStorage,
  StorageFigures,
  TagDetail,
} from '../repository-metadata-store.js';
import type { Database, TagsTable } from './schema.js';
import { PreparedQuery } from './prepared-query.js';

interface FlagColumns {
  delete_enabled: number;
  write_enabled: number;
  read_enabled: number;
  list_enabled: number;
}

const flagColumns = ['delete_enabled', 'write_enabled', 'read_enabled', 'list_enabled'] as const;

function attributesOf(row: FlagColumns): ChangeableAttributes {
  return {
    deleteEnabled: Number(row.delete_enabled) === 1,
    writeEnabled: Number(row.write_enabled) === 1,
    readEnabled: Number(row.read_enabled) === 1,
    listEnabled: Number(row.list_enabled) === 1,
  };
}

function flagUpdate(change: Partial<ChangeableAttributes>): Partial<FlagColumns> {
  const set: Partial<FlagColumns> = {};
  if (change.deleteEnabled !== undefined) set.delete_enabled = change.deleteEnabled ? 1 : 0;
  if (change.writeEnabled !== undefined) set.write_enabled = change.writeEnabled ? 1 : 0;
  if (change.readEnabled !== undefined) set.read_enabled = change.readEnabled ? 1 : 0;
  if (change.listEnabled !== undefined) set.list_enabled = change.listEnabled ? 1 : 0;
  return set;
}

/**
 * Keyset paging by (updated_at, key) or by key alone: the page after `last` whatever the order,
 * so a listing stays stable while entries are added behind it.
 */
function after(key: 'name' | 'digest', page: ListingPage, lastTime: string | null): RawBuilder<SqlBool> {
  const k = sql.ref(key);
  if (page.order === 'name' || lastTime === null) return sql<SqlBool>`${k} > ${page.last}`;
  if (page.order === 'timeasc') return sql<SqlBool>`(updated_at > ${lastTime} or (updated_at = ${lastTime} and ${k} > ${page.last}))`;
  return sql<SqlBool>`(updated_at < ${lastTime} or (updated_at = ${lastTime} and ${k} < ${page.last}))`;
}

/** RepositoryMetadataStore on the SQL schema the registry core uses. */
export class SqlRepositoryMetadataStore implements RepositoryMetadataStore {
  /** A flush runs one of these per pulled tag and manifest, so they are compiled once. */
  private readonly pullUpdates: ReturnType<typeof preparePullUpdates>;

  constructor(private readonly db: Kysely<Database>) {
    this.pullUpdates = preparePullUpdates(db);
  }

  async repository(name: string): Promise<RepositoryDetail | null> {
    const row = await this.db
      .selectFrom('repositories as r')
      .selectAll('r')
      .select((eb) => [
        eb.selectFrom('manifests').select(eb.fn.countAll<number>().as('n')).where('repository', '=', name).as('manifest_count'),
        eb.selectFrom('tags').select(eb.fn.countAll<number>().as('n')).where('repository', '=', name).as('tag_count'),
      ])
      .where('r.name', '=', name)
      .executeTakeFirst();
    if (!row) return null;
    return {
      name: row.name,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
      manifestCount: Number(row.manifest_count ?? 0),
      tagCount: Number(row.tag_count ?? 0),
      attributes: attributesOf(row),
    };
  }

  async tags(repository: string, page: ListingPage, digest?: string): Promise<TagDetail[]> {
    // A listing: tags with listEnabled=false are hidden (still shown, and pullable, by name).
    let query = this.db.selectFrom('tags').selectAll().where('repository', '=', repository).where('list_enabled', '=', 1).limit(page.limit);
    if (digest !== undefined) query = query.where('digest', '=', digest);
    if (page.last !== undefined) {
      const lastTime = await this.lastTime('tags', repository, 'name', page.last);
      query = query.where(after('name', page, lastTime));
    }
    query = page.order === 'name' ? query.orderBy('name') : query.orderBy('updated_at', page.order === 'timeasc' ? 'asc' : 'desc').orderBy('name', page.order === 'timeasc' ? 'asc' : 'desc');
    return (await query.execute()).map(toTagDetail);
  }

  async tag(repository: string, name: string): Promise<TagDetail | null> {
    const row = await this.db.selectFrom('tags').selectAll().where('repository', '=', repository).where('name', '=', name).executeTakeFirst();
    return row ? toTagDetail(row) : null;
  }

  async manifests(repository: string, page: ListingPage): Promise<ManifestDetail[]> {
    return this.manifestRows(repository, page, undefined);
  }

  async manifest(repository: string, digest: string): Promise<ManifestDetail | null> {
    const [manifest] = await this.manifestRows(repository, { order: 'name', limit: 1 }, digest);
    return manifest ?? null;
  }

  private async manifestRows(repository: string, page: ListingPage, digest: string | undefined): Promise<ManifestDetail[]> {
    let query = this.db
      .selectFrom('manifests')
      .select([
        'digest', 'media_type', 'config_media_type', 'artifact_type', 'subject_digest', 'size', 'platform_os', 'platform_architecture', 'platform_variant',
        'created_at', 'updated_at', 'last_pulled_at', 'pull_count', ...flagColumns,
      ])
      .where('repository', '=', repository)
      .limit(page.limit);
    // The listing hides manifests with listEnabled=false; one asked for by digest is shown.
    query = digest !== undefined ? query.where('digest', '=', digest) : query.where('list_enabled', '=', 1);
    if (page.last !== undefined) {
      const lastTime = await this.lastTime('manifests', repository, 'digest', page.last);
      query = query.where(after('digest', page, lastTime));
    }
    query = page.order === 'name' ? query.orderBy('digest') : query.orderBy('updated_at', page.order === 'timeasc' ? 'asc' : 'desc').orderBy('digest', page.order === 'timeasc' ? 'asc' : 'desc');
    const rows = await query.execute();
    if (rows.length === 0) return [];
    const digests = rows.map((r) => r.digest);
    const [tagRows, blobRows, childRows] = await Promise.all([
      this.db.selectFrom('tags').select(['digest', 'name']).where('repository', '=', repository).where('digest', 'in', digests).orderBy('name').execute(),
      this.db
        .selectFrom('manifest_references as mr')
        .innerJoin('blobs as b', 'b.digest', 'mr.child_digest')
        .select(['mr.parent_digest', (eb) => eb.fn.sum<number>('b.size').as('bytes')])
        .where('mr.repository', '=', repository)
        .where('mr.child_kind', '=', 'blob')
        .where('mr.parent_digest', 'in', digests)
        .groupBy('mr.parent_digest')
        .execute(),
      this.db
        .selectFrom('manifest_references as mr')
        .leftJoin('manifests as c', (join) => join.onRef('c.repository', '=', 'mr.repository').onRef('c.digest', '=', 'mr.child_digest'))
        .select(['mr.parent_digest', 'mr.child_digest', 'c.platform_os', 'c.platform_architecture', 'c.platform_variant'])
        .where('mr.repository', '=', repository)
        .where('mr.child_kind', '=', 'manifest')
        .where('mr.parent_digest', 'in', digests)
        .orderBy('mr.child_digest')
        .execute(),
    ]);
    const tagsOf = group(tagRows, (r) => r.digest, (r) => r.name);
    const bytesOf = new Map(blobRows.map((r) => [r.parent_digest, Number(r.bytes ?? 0)]));
    const childrenOf = group(childRows, (r) => r.parent_digest, (r) => ({
      digest: r.child_digest,
      os: r.platform_os ?? null,
      architecture: r.platform_architecture ?? null,
      variant: r.platform_variant ?? null,
    }));
    return rows.map((row) => ({
      digest: row.digest,
      mediaType: row.media_type,
      configMediaType: row.config_media_type,
      artifactType: row.artifact_type,
      subjectDigest: row.subject_digest,
      size: Number(row.size),
      imageSize: Number(row.size) + (bytesOf.get(row.digest) ?? 0),
      os: row.platform_os,
      architecture: row.platform_architecture,
      variant: row.platform_variant,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
      lastPulledAt: row.last_pulled_at,
      pullCount: Number(row.pull_count),
      tags: tagsOf.get(row.digest) ?? [],
      references: childrenOf.get(row.digest) ?? [],
      attributes: attributesOf(row),
    }));
  }

  private async lastTime(table: 'tags' | 'manifests', repository: string, key: 'name' | 'digest', value: string): Promise<string | null> {
    const result = await sql<{ updated_at: string }>`select updated_at from ${sql.table(table)} where repository = ${repository} and ${sql.ref(key)} = ${value}`.execute(this.db);
    return result.rows[0]?.updated_at ?? null;
  }

  async updateAttributes(target: AttributeTarget, change: Partial<ChangeableAttributes>): Promise<boolean> {
    const set = flagUpdate(change);
    // An empty change still answers whether the target exists.
    if (target.kind === 'repository') {
      const query = this.db.updateTable('repositories').where('name', '=', target.repository);
      const result = await (Object.keys(set).length ? query.set(set) : query.set({ name: target.repository })).executeTakeFirst();
      return result.numUpdatedRows > 0n;
    }
    if (target.kind === 'tag') {
      const query = this.db.updateTable('tags').where('repository', '=', target.repository).where('name', '=', target.tag);
      const result = await (Object.keys(set).length ? query.set(set) : query.set({ name: target.tag })).executeTakeFirst();
      return result.numUpdatedRows > 0n;
    }
    const query = this.db.updateTable('manifests').where('repository', '=', target.repository).where('digest', '=', target.digest);
    const result = await (Object.keys(set).length ? query.set(set) : query.set({ digest: target.digest })).executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async recordPulls(tallies: PullTally[]): Promise<void> {
    if (tallies.length === 0) return;
    await this.db.transaction().execute(async (trx) => {
      for (const t of tallies) {
        const update = t.kind === 'tag' ? this.pullUpdates.tag : this.pullUpdates.manifest;
        await update.executeIn(trx, t.count, t.lastPulledAt, t.repository, t.key);
      }
    });
  }

  async repositoryStorage(repository?: string): Promise<RepositoryStorage[]> {
    const filter = repository === undefined ? sql`` : sql`where c.repository = ${repository}`;
    const result = await sql<{ repository: string; referenced: number | string | null; unique_bytes: number | string | null }>`
      with ${contentTable()}
      select c.repository as repository,
             sum(c.size) as referenced,
             sum(case when h.holders = 1 then c.size else 0 end) as unique_bytes
      from content c join holders h on h.digest = c.digest
      ${filter}
      group by c.repository
      order by c.repository
    `.execute(this.db);
    return result.rows.map((r) => {
      const referencedBytes = Number(r.referenced ?? 0);
      const uniqueBytes = Number(r.unique_bytes ?? 0);
      return { repository: r.repository, referencedBytes, uniqueBytes, sharedBytes: referencedBytes - uniqueBytes };
    });
  }

  async registryStorage(): Promise<StorageFigures> {
    const result = await sql<{ referenced: number | string | null; unique_bytes: number | string | null }>`
      with ${contentTable()}
      select sum(h.size) as referenced, sum(case when h.holders = 1 then h.size else 0 end) as unique_bytes from holders h
    `.execute(this.db);
    const referencedBytes = Number(result.rows[0]?.referenced ?? 0);
    const uniqueBytes = Number(result.rows[0]?.unique_bytes ?? 0);
    return { referencedBytes, uniqueBytes, sharedBytes: referencedBytes - uniqueBytes };
  }
}

/**
 * `content`: each repository's distinct digests (manifests, and the blobs its manifests reference)
 * with their sizes; `holders`: per digest, its size and how many repositories reference it.
 * Blobs linked but referenced by no manifest (an upload never used) are not counted.
 */
function contentTable() {
  return sql`
    content as (
      select mr.repository as repository, mr.child_digest as digest, b.size as size
        from manifest_references mr join blobs b on b.digest = mr.child_digest
        where mr.child_kind = 'blob'
      union
      select repository, digest, size from manifests
    ),
    holders as (
      select digest, max(size) as size, count(*) as holders from content group by digest
    )`;
}

function toTagDetail(row: Selectable<TagsTable>): TagDetail {
  return {
    name: row.name,
    digest: row.digest,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    lastPulledAt: row.last_pulled_at,
    pullCount: Number(row.pull_count),
    attributes: attributesOf(row),
  };
}

function group<R, K, V>(rows: R[], key: (r: R) => K, value: (r: R) => V): Map<K, V[]> {
  const map = new Map<K, V[]>();
  for (const row of rows) {
    const k = key(row);
    const list = map.get(k) ?? [];
    list.push(value(row));
    map.set(k, list);
  }
  return map;
}

/** Adds a flush's count to a tag or manifest and keeps the later of the two pull times. */
function preparePullUpdates(db: Kysely<Database>) {
  const set = (count: number, lastPulledAt: string) => ({
    pull_count: sql<number>`pull_count + ${count}`,
    // The later of the stored time and this batch's: flushes from two servers may cross.
    last_pulled_at: sql<string>`case when last_pulled_at is null or last_pulled_at < ${lastPulledAt} then ${lastPulledAt} else last_pulled_at end`,
  });
  return {
    tag: new PreparedQuery(db, 4, (count: number, lastPulledAt: string, repository: string, tag: string) =>
      db.updateTable('tags').set(set(count, lastPulledAt)).where('repository', '=', repository).where('name', '=', tag),
    ),
    manifest: new PreparedQuery(db, 4, (count: number, lastPulledAt: string, repository: string, digest: string) =>
      db.updateTable('manifests').set(set(count, lastPulledAt)).where('repository', '=', repository).where('digest', '=', digest),
    ),
  };
}
