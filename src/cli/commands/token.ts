import type { Command } from 'commander';
import type { TokenView } from '../../auth/access-management.js';
import { ApiClient, CliError } from '../api-client.js';
import { outputFormat, print, printMessage, withOutput, type Column, type OutputFormat } from '../output.js';
import { invocation } from '../invocation.js';
import { expiryFrom, parseRepositoryPermissions } from './repository-permissions.js';

const passwordExpiry = (slot: string) => (t: TokenView) => {
  const p = t.credentials.passwords.find((x) => x.name === slot);
  return p ? (p.expiry ?? 'never') : '';
};

const columns: Column<TokenView>[] = [
  ['NAME', (t) => t.name],
  ['SCOPE MAP', (t) => t.scopeMap],
  ['PASSWORD1 EXPIRY', passwordExpiry('password1')],
  ['PASSWORD2 EXPIRY', passwordExpiry('password2')],
  ['STATUS', (t) => t.status],
  ['PROVISIONING STATE', () => 'Succeeded'],
  ['CREATION DATE', (t) => t.creationDate],
];

/** Passwords are shown once, right after they are made. */
function printWithPasswords(format: OutputFormat, token: TokenView): void {
  print(format, token, columns);
  if (format === 'table' && invocation().query === undefined) {
    for (const p of token.credentials.passwords) if (p.value) process.stdout.write(`${p.name.toUpperCase()}: ${p.value}\n`);
  }
}

function status(value: string | undefined): 'enabled' | 'disabled' | undefined {
  if (value === undefined) return undefined;
  if (value !== 'enabled' && value !== 'disabled') throw new CliError('--status takes enabled or disabled');
  return value;
}

export function registerTokenCommands(program: Command): void {
  const token = program.command('token').description('repository-scoped tokens (ACR: az acr token)');

  withOutput(
    token
      .command('create')
      .description('create a token with a scope map, or with its own repository permissions')
      .requiredOption('-n, --name <name>', 'token name (also its login name)')
      .option('--scope-map <name>', 'an existing scope map')
      .option('--repository <repository-and-actions...>', 'REPO ACTION... (repeatable)')
      .option('--status <status>', 'enabled or disabled', 'enabled')
      .option('--no-passwords', 'create no passwords now')
      .option('--expiration-in-days <days>', 'token and passwords expire after this many days')
      .option('--expiration <time>', 'token and passwords expire at this ISO 8601 time'),
  ).action(async (o: { name: string; scopeMap?: string; repository?: string[]; status?: string; passwords: boolean; expirationInDays?: string; expiration?: string; output?: string }) => {
    if (!o.scopeMap && !o.repository) throw new CliError('give --scope-map or --repository REPO ACTION...');
    if (o.scopeMap && o.repository) throw new CliError('give either --scope-map or --repository, not both');
    const body = {
      name: o.name,
      ...(o.scopeMap ? { scopeMap: o.scopeMap } : { rules: parseRepositoryPermissions(o.repository) }),
      status: status(o.status),
      expiresAt: expiryFrom(o) ?? null,
      noPasswords: !o.passwords,
    };
    printWithPasswords(outputFormat(o), await ApiClient.fromStoredLogin().call<TokenView>('POST', '/api/v1/tokens', body));
  });

  withOutput(token.command('list').description('list tokens')).action(async (o: { output?: string }) => {
    print(outputFormat(o), await ApiClient.fromStoredLogin().call<TokenView[]>('GET', '/api/v1/tokens'), columns);
  });

  withOutput(token.command('show').description('show a token').requiredOption('-n, --name <name>', 'token name')).action(async (o: { name: string; output?: string }) => {
    print(outputFormat(o), await ApiClient.fromStoredLogin().call<TokenView>('GET', `/api/v1/tokens/${encodeURIComponent(o.name)}`), columns);
  });

  withOutput(
    token
      .command('update')
      .description("change a token's status, scope map or expiry")
      .requiredOption('-n, --name <name>', 'token name')
      .option('--status <status>', 'enabled or disabled')
      .option('--scope-map <name>', 'another scope map')
      .option('--expiration-in-days <days>', 'expire after this many days')
      .option('--expiration <time>', 'expire at this ISO 8601 time'),
  ).action(async (o: { name: string; status?: string; scopeMap?: string; expirationInDays?: string; expiration?: string; output?: string }) => {
    const body = { status: status(o.status), scopeMap: o.scopeMap, expiresAt: expiryFrom(o) };
    print(outputFormat(o), await ApiClient.fromStoredLogin().call<TokenView>('PATCH', `/api/v1/tokens/${encodeURIComponent(o.name)}`, body), columns);
  });

  withOutput(
    token.command('delete').description('delete a token').requiredOption('-n, --name <name>', 'token name').option('-y, --yes', 'do not ask (kept for az compatibility)'),
  ).action(async (o: { name: string; output?: string }) => {
    await ApiClient.fromStoredLogin().call('DELETE', `/api/v1/tokens/${encodeURIComponent(o.name)}`);
    printMessage(outputFormat(o), `Deleted token ${o.name}`, { name: o.name, deleted: true });
  });

  const credential = token.command('credential').description("a token's passwords");
  withOutput(
    credential
      .command('generate')
      .description('generate password1 and/or password2 (both when neither is named); each is shown once')
      .requiredOption('-n, --name <name>', 'token name')
      .option('--password1', 'generate password1')
      .option('--password2', 'generate password2')
      .option('--expiration-in-days <days>', 'the password expires after this many days')
      .option('--expiration <time>', 'the password expires at this ISO 8601 time'),
  ).action(async (o: { name: string; password1?: boolean; password2?: boolean; expirationInDays?: string; expiration?: string; output?: string }) => {
    const slots = o.password1 || o.password2 ? [o.password1 && 'password1', o.password2 && 'password2'].filter(Boolean) : ['password1', 'password2'];
    const client = ApiClient.fromStoredLogin();
    const expiresAt = expiryFrom(o) ?? null;
    let result: TokenView | null = null;
    const values: TokenView['credentials']['passwords'] = [];
    for (const slot of slots) {
      result = await client.call<TokenView>('POST', `/api/v1/tokens/${encodeURIComponent(o.name)}/credentials`, { password: slot, expiresAt });
      values.push(...result.credentials.passwords.filter((p) => p.value));
    }
    const merged: TokenView = { ...result!, credentials: { passwords: result!.credentials.passwords.map((p) => values.find((v) => v.name === p.name) ?? p) } };
    printWithPasswords(outputFormat(o), merged);
  });
  withOutput(
    credential
      .command('delete')
      .description('delete password1 or password2')
      .requiredOption('-n, --name <name>', 'token name')
      .option('--password1', 'delete password1')
      .option('--password2', 'delete password2'),
  ).action(async (o: { name: string; password1?: boolean; password2?: boolean; output?: string }) => {
    const slots = [o.password1 && 'password1', o.password2 && 'password2'].filter(Boolean) as string[];
    if (slots.length === 0) throw new CliError('name --password1 and/or --password2');
    let result: TokenView | null = null;
    for (const slot of slots) result = await ApiClient.fromStoredLogin().call<TokenView>('DELETE', `/api/v1/tokens/${encodeURIComponent(o.name)}/credentials/${slot}`);
    print(outputFormat(o), result!, columns);
  });
}
