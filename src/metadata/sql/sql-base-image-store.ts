import type { Kysely, Selectable, SelectQueryBuilder } from 'kysely';
import type { BaseDependency, BaseImageStore, ImageName, TaskBaseImage } from '../../triggers/base-image-store.js';
import type { Database, TaskBaseImagesTable } from './schema.js';

export class SqlBaseImageStore implements BaseImageStore {
  constructor(private readonly db: Kysely<Database>) {}

  async replaceTaskBases(task: string, bases: Array<Omit<TaskBaseImage, 'task' | 'checkedAt' | 'error'>>): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const old = await trx.selectFrom('task_base_images').selectAll().where('task', '=', task).execute();
      const previous = new Map(old.map((r) => [`${r.registry}/${r.repository}:${r.tag}`, r]));
      await trx.deleteFrom('task_base_images').where('task', '=', task).execute();
      const unique = new Map<string, (typeof bases)[number]>();
      for (const base of bases) {
        const key = `${base.registry}/${base.repository}:${base.tag}`;
        const seen = unique.get(key);
        // Runtime wins over buildtime over watch: the strongest dependency decides what fires.
        if (!seen || rank(base.dependency) < rank(seen.dependency)) unique.set(key, { ...base, digest: base.digest ?? seen?.digest ?? null, tagPolicy: base.tagPolicy ?? seen?.tagPolicy ?? null });
      }
      for (const [key, base] of unique) {
        const kept = previous.get(key);
        await trx
          .insertInto('task_base_images')
          .values({
            task,
            registry: base.registry,
            repository: base.repository,
            tag: base.tag,
            dependency: base.dependency,
            digest: base.digest ?? kept?.digest ?? null,
            tag_policy: base.tagPolicy,
            checked_at: kept?.checked_at ?? null,
            error: kept?.error ?? null,
          })
          .execute();
      }
    });
  }

  async taskBases(task: string): Promise<TaskBaseImage[]> {
    const rows = await this.db.selectFrom('task_base_images').selectAll().where('task', '=', task).orderBy('dependency').orderBy('repository').execute();
    return rows.map(toBase);
  }

  async dependents(registries: string[], repository: string, tag: string): Promise<TaskBaseImage[]> {
    return this.ofRepository(registries, repository, (query) => query.where('tag', '=', tag));
  }

  async tagPolicyDependents(registries: string[], repository: string): Promise<TaskBaseImage[]> {
    return this.ofRepository(registries, repository, (query) => query.where('tag_policy', 'is not', null));
  }

  /** The bases in `repository` under any of the registry's names, narrowed by `where` (index on registry, repository, tag). */
  private async ofRepository(
    registries: string[],
    repository: string,
    where: (query: SelectQueryBuilder<Database, 'task_base_images', Selectable<TaskBaseImagesTable>>) => SelectQueryBuilder<Database, 'task_base_images', Selectable<TaskBaseImagesTable>>,
  ): Promise<TaskBaseImage[]> {
    if (registries.length === 0) return [];
    const query = this.db.selectFrom('task_base_images').selectAll().where('registry', 'in', registries).where('repository', '=', repository);
    return (await where(query).execute()).map(toBase);
  }

  async distinctImages(): Promise<ImageName[]> {
    return this.db.selectFrom('task_base_images').select(['registry', 'repository', 'tag']).distinct().orderBy('registry').orderBy('repository').orderBy('tag').execute();
  }

  async markChecked(image: ImageName, checkedAt: string, error: string | null): Promise<void> {
    await this.db
      .updateTable('task_base_images')
      .set({ checked_at: checkedAt, error })
      .where('registry', '=', image.registry)
      .where('repository', '=', image.repository)
      .where('tag', '=', image.tag)
      .execute();
  }

  async setDigest(task: string, image: ImageName, digest: string): Promise<void> {
    await this.db
      .updateTable('task_base_images')
      .set({ digest })
      .where('task', '=', task)
      .where('registry', '=', image.registry)
      .where('repository', '=', image.repository)
      .where('tag', '=', image.tag)
      .execute();
  }

  async deleteTask(task: string): Promise<void> {
    await this.db.deleteFrom('task_base_images').where('task', '=', task).execute();
  }
}

const rank = (dependency: BaseDependency): number => ({ runtime: 0, buildtime: 1, watch: 2 })[dependency];

function toBase(row: Selectable<TaskBaseImagesTable>): TaskBaseImage {
  return {
    task: row.task,
    registry: row.registry,
    repository: row.repository,
    tag: row.tag,
    dependency: row.dependency as BaseDependency,
    digest: row.digest,
    tagPolicy: row.tag_policy,
    checkedAt: row.checked_at,
    error: row.error,
  };
}
