import type { Kysely, Selectable } from 'kysely';
import { emptyRules, type LifecyclePolicy, type PolicyRules, type PolicyStore } from '../../lifecycle/policy.js';
import type { Database, LifecyclePoliciesTable } from './schema.js';

/** Lifecycle policies in the metadata database (`lifecycle_policies`, migration 0014). */
export class SqlPolicyStore implements PolicyStore {
  constructor(private readonly db: Kysely<Database>) {}

  async listPolicies(): Promise<LifecyclePolicy[]> {
    return (await this.db.selectFrom('lifecycle_policies').selectAll().orderBy('name').execute()).map(toPolicy);
  }

  async getPolicy(name: string): Promise<LifecyclePolicy | null> {
    const row = await this.db.selectFrom('lifecycle_policies').selectAll().where('name', '=', name).executeTakeFirst();
    return row ? toPolicy(row) : null;
  }

  async insertPolicy(policy: LifecyclePolicy): Promise<boolean> {
    const result = await this.db.insertInto('lifecycle_policies').values(toRow(policy)).onConflict((oc) => oc.column('name').doNothing()).executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0n) > 0;
  }

  async updatePolicy(policy: LifecyclePolicy): Promise<boolean> {
    const { name: _name, created_at: _created, ...row } = toRow(policy);
    const result = await this.db.updateTable('lifecycle_policies').set(row).where('name', '=', policy.name).executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async deletePolicy(name: string): Promise<boolean> {
    return (await this.db.deleteFrom('lifecycle_policies').where('name', '=', name).executeTakeFirst()).numDeletedRows > 0n;
  }
}

function toRow(policy: LifecyclePolicy): LifecyclePoliciesTable {
  return {
    name: policy.name,
    repository: policy.repository,
    rules: JSON.stringify(policy.rules),
    enabled: policy.status === 'enabled' ? 1 : 0,
    created_at: policy.createdAt,
    updated_at: policy.updatedAt,
  };
}

function toPolicy(row: Selectable<LifecyclePoliciesTable>): LifecyclePolicy {
  return {
    name: row.name,
    repository: row.repository,
    status: row.enabled ? 'enabled' : 'disabled',
    // Defaults first: rules stored by an older version lack the kinds added since.
    rules: { ...emptyRules(), ...(JSON.parse(row.rules) as Partial<PolicyRules>) },
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
