import type { Kysely, Migration } from 'kysely';

/**
 * ACR's changeable attributes on repositories, tags and manifests (stored now; the locks they
 * describe are enforced by a later step), and pull statistics on tags and manifests. Attributes
 * are independent per level, as in ACR: a tag's flag does not touch its manifest's.
 */
export function repositoryMetadata(): Migration {
  const flags = ['delete_enabled', 'write_enabled', 'read_enabled', 'list_enabled'] as const;
  return {
    async up(db: Kysely<any>): Promise<void> {
      for (const table of ['repositories', 'tags', 'manifests']) {
        for (const flag of flags) {
          await db.schema.alterTable(table).addColumn(flag, 'integer', (c) => c.notNull().defaultTo(1)).execute();
        }
      }
      for (const table of ['tags', 'manifests']) {
        await db.schema.alterTable(table).addColumn('last_pulled_at', 'text').execute();
        await db.schema.alterTable(table).addColumn('pull_count', 'bigint', (c) => c.notNull().defaultTo(0)).execute();
      }
      // Time-ordered listings (orderby=timedesc|timeasc) page through these.
      await db.schema.createIndex('tags_by_time').on('tags').columns(['repository', 'updated_at', 'name']).execute();
      await db.schema.createIndex('manifests_by_time').on('manifests').columns(['repository', 'updated_at', 'digest']).execute();
      // Storage accounting finds who else references a blob.
      await db.schema.createIndex('manifest_references_digest').on('manifest_references').columns(['child_digest']).execute();
    },
  };
}
