import { isRepositoryAction, type ScopeMapRule } from '../../auth/permissions.js';
import { CliError } from '../api-client.js';

/**
 * ACR's `--repository REPO ACTION [ACTION...] [--repository REPO2 ACTION...]`: commander gathers
 * every value into one list, which is split again at each word that is not an action.
 */
export function parseRepositoryPermissions(values: string[] | undefined): ScopeMapRule[] {
  const rules: ScopeMapRule[] = [];
  for (const value of values ?? []) {
    if (isRepositoryAction(value)) {
      const current = rules[rules.length - 1];
      if (!current) throw new CliError(`"${value}" must follow a repository name`);
      current.actions.push(value);
    } else {
      rules.push({ repository: value, actions: [] });
    }
  }
  const empty = rules.find((r) => r.actions.length === 0);
  if (empty) {
    throw new CliError(`no actions for repository "${empty.repository}" (content/read, content/write, content/delete, metadata/read, metadata/write)`);
  }
  return rules;
}

export function expiryFrom(options: { expirationInDays?: string; expiration?: string }): string | null | undefined {
  if (options.expiration) return options.expiration;
  if (options.expirationInDays !== undefined) {
    const days = Number(options.expirationInDays);
    if (!Number.isFinite(days) || days <= 0) throw new CliError('--expiration-in-days takes a positive number');
    return new Date(Date.now() + days * 86_400_000).toISOString();
  }
  return undefined;
}
