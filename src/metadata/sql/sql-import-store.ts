import type { Kysely } from 'kysely';
import type { ImportJob, ImportStore } from '../../import/import-store.js';
import type { Database } from './schema.js';

/** Import jobs as JSON documents with their status alongside for lookups. */
export class SqlImportStore implements ImportStore {
  constructor(private readonly db: Kysely<Database>) {}

  async putImport(job: ImportJob): Promise<void> {
    const row = { id: job.id, job: JSON.stringify(job), status: job.status, created_at: job.createdAt };
    await this.db.insertInto('imports').values(row).onConflict((oc) => oc.column('id').doUpdateSet(row)).execute();
  }

  async getImport(id: string): Promise<ImportJob | null> {
    const row = await this.db.selectFrom('imports').select('job').where('id', '=', id).executeTakeFirst();
    return row ? (JSON.parse(row.job) as ImportJob) : null;
  }

  async listImports(limit: number, offset = 0): Promise<ImportJob[]> {
    const rows = await this.db.selectFrom('imports').select('job').orderBy('created_at', 'desc').orderBy('id').limit(limit).offset(offset).execute();
    return rows.map((r) => JSON.parse(r.job) as ImportJob);
  }

  async unfinishedImports(): Promise<ImportJob[]> {
    const rows = await this.db.selectFrom('imports').select('job').where('status', 'in', ['queued', 'running']).orderBy('created_at').execute();
    return rows.map((r) => JSON.parse(r.job) as ImportJob);
  }
}
