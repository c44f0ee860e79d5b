import type { Command } from 'commander';
import type { ScopeMapRecord } from '../../auth/auth-store.js';
import { ApiClient } from '../api-client.js';
import { outputFormat, print, printMessage, withOutput, type Column } from '../output.js';
import { parseRepositoryPermissions } from './repository-permissions.js';

const columns: Column<ScopeMapRecord>[] = [
  ['NAME', (m) => m.name],
  ['TYPE', (m) => (m.system ? 'SystemDefined' : 'UserDefined')],
  ['CREATION DATE', (m) => m.createdAt],
  ['DESCRIPTION', (m) => m.description],
];

const detailColumns: Column<ScopeMapRecord>[] = [
  ...columns,
  ['ACTIONS', (m) => m.rules.flatMap((r) => r.actions.map((a) => `repositories/${r.repository}/${a}`))],
];

export function registerScopeMapCommands(program: Command): void {
  const scopeMap = program.command('scope-map').description('scope maps: repository permissions for tokens (ACR: az acr scope-map)');

  withOutput(
    scopeMap
      .command('create')
      .description('create a scope map')
      .requiredOption('-n, --name <name>', 'scope map name')
      .requiredOption('--repository <repository-and-actions...>', 'REPO ACTION... (repeatable; REPO may be "prefix/*" or "*")')
      .option('--description <text>', 'up to 256 characters'),
  ).action(async (o: { name: string; repository: string[]; description?: string; output?: string }) => {
    const body = { name: o.name, description: o.description, rules: parseRepositoryPermissions(o.repository) };
    print(outputFormat(o), await ApiClient.fromStoredLogin().call<ScopeMapRecord>('POST', '/api/v1/scope-maps', body), detailColumns);
  });

  withOutput(scopeMap.command('list').description('list scope maps')).action(async (o: { output?: string }) => {
    print(outputFormat(o), await ApiClient.fromStoredLogin().call<ScopeMapRecord[]>('GET', '/api/v1/scope-maps'), columns);
  });

  withOutput(scopeMap.command('show').description('show a scope map').requiredOption('-n, --name <name>', 'scope map name')).action(
    async (o: { name: string; output?: string }) => {
      print(outputFormat(o), await ApiClient.fromStoredLogin().call<ScopeMapRecord>('GET', `/api/v1/scope-maps/${encodeURIComponent(o.name)}`), detailColumns);
    },
  );

  withOutput(
    scopeMap
      .command('update')
      .description('add or remove repository permissions')
      .requiredOption('-n, --name <name>', 'scope map name')
      .option('--add-repository <repository-and-actions...>', 'REPO ACTION... to add')
      .option('--remove-repository <repository-and-actions...>', 'REPO ACTION... to remove')
      .option('--description <text>', 'new description'),
  ).action(async (o: { name: string; addRepository?: string[]; removeRepository?: string[]; description?: string; output?: string }) => {
    const body = {
      description: o.description,
      addRules: parseRepositoryPermissions(o.addRepository),
      removeRules: parseRepositoryPermissions(o.removeRepository),
    };
    print(outputFormat(o), await ApiClient.fromStoredLogin().call<ScopeMapRecord>('PATCH', `/api/v1/scope-maps/${encodeURIComponent(o.name)}`, body), detailColumns);
  });

  withOutput(
    scopeMap.command('delete').description('delete a scope map').requiredOption('-n, --name <name>', 'scope map name').option('-y, --yes', 'do not ask'),
  ).action(async (o: { name: string; output?: string }) => {
    await ApiClient.fromStoredLogin().call('DELETE', `/api/v1/scope-maps/${encodeURIComponent(o.name)}`);
    printMessage(outputFormat(o), `Deleted scope map ${o.name}`, { name: o.name, deleted: true });
  });
}
