import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { SecretInfo } from '../../secrets/secret-store.js';
import { ApiClient, CliError } from '../api-client.js';
import { outputFormat, print, printMessage, withOutput, type Column } from '../output.js';

const columns: Column<SecretInfo>[] = [
  ['NAME', (s) => s.name],
  ['CREATED', (s) => s.createdAt],
  ['UPDATED', (s) => s.updatedAt],
];

export function registerSecretCommands(program: Command): void {
  const secret = program.command('secret').description('secrets for tasks, encrypted at rest; values are never shown again');
  const path = (name: string) => `/api/v1/secrets/${encodeURIComponent(name)}`;
  withOutput(
    secret
      .command('set')
      .description('create or replace a secret')
      .requiredOption('-n, --name <name>', 'secret name')
      .option('--value <value>', 'the value (prefer --value-stdin)')
      .option('--value-stdin', 'read the value from standard input'),
  ).action(async (o: { name: string; value?: string; valueStdin?: boolean; output?: string }) => {
    if (Boolean(o.value) === Boolean(o.valueStdin)) throw new CliError('give --value or --value-stdin');
    const value = o.valueStdin ? readFileSync(0, 'utf8').replace(/\r?\n$/, '') : o.value!;
    print(outputFormat(o), await ApiClient.fromStoredLogin().call<SecretInfo>('PUT', path(o.name), { value }), columns);
  });
  withOutput(secret.command('list').description('secret names')).action(async (o: { output?: string }) => {
    print(outputFormat(o), await ApiClient.fromStoredLogin().call<SecretInfo[]>('GET', '/api/v1/secrets'), columns);
  });
  withOutput(secret.command('delete').description('delete a secret').requiredOption('-n, --name <name>', 'secret name')).action(async (o: { name: string; output?: string }) => {
    await ApiClient.fromStoredLogin().call('DELETE', path(o.name));
    printMessage(outputFormat(o), `Deleted secret ${o.name}`, { name: o.name, deleted: true });
  });
}
