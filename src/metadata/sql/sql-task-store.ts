import type { Kysely } from 'kysely';
import type { TaskRecord, TaskStore } from '../../tasks/task-store.js';
import type { Database } from './schema.js';

export class SqlTaskStore implements TaskStore {
  constructor(private readonly db: Kysely<Database>) {}

  async getTask(name: string): Promise<TaskRecord | null> {
    const row = await this.db.selectFrom('tasks').select('record').where('name', '=', name).executeTakeFirst();
    return row ? (JSON.parse(row.record) as TaskRecord) : null;
  }

  async listTasks(): Promise<TaskRecord[]> {
    return (await this.db.selectFrom('tasks').select('record').orderBy('name').execute()).map((r) => JSON.parse(r.record) as TaskRecord);
  }

  async putTask(task: TaskRecord): Promise<void> {
    const row = { name: task.name, record: JSON.stringify(task) };
    await this.db.insertInto('tasks').values(row).onConflict((oc) => oc.column('name').doUpdateSet(row)).execute();
  }

  async deleteTask(name: string): Promise<boolean> {
    return (await this.db.deleteFrom('tasks').where('name', '=', name).executeTakeFirst()).numDeletedRows > 0n;
  }
}
