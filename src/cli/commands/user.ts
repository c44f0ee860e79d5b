import type { Command } from 'commander';
import type { UserView } from '../../auth/access-management.js';
import type { AuditEvent } from '../../auth/auth-store.js';
import { ApiClient, CliError } from '../api-client.js';
import { outputFormat, print, printMessage, withOutput, type Column, isDataFormat } from '../output.js';

const userColumns: Column<UserView>[] = [
  ['NAME', (u) => u.name],
  ['ROLES', (u) => u.roles],
  ['ENABLED', (u) => u.enabled],
  ['CREATION DATE', (u) => u.creationDate],
];

export function registerUserCommands(program: Command): void {
  const user = program.command('user').description('users and their roles (AcrPull, AcrPush, AcrDelete, Owner)');
  withOutput(
    user
      .command('create')
      .description('create a user; without -p a password is generated and shown once')
      .requiredOption('-n, --name <name>', 'user name')
      .option('-p, --password <password>', 'password (at least 8 characters)')
      .requiredOption('--role <roles...>', 'one or more roles'),
  ).action(async (o: { name: string; password?: string; role: string[]; output?: string }) => {
    const result = await ApiClient.fromStoredLogin().call<{ user: UserView; password?: string }>('POST', '/api/v1/users', {
      name: o.name,
      password: o.password,
      roles: o.role,
    });
    const format = outputFormat(o);
    if (isDataFormat(format)) return printMessage(format, '', result);
    print(format, result.user, userColumns);
    if (result.password) process.stdout.write(`PASSWORD: ${result.password}\n`);
  });
  withOutput(user.command('list').description('list users')).action(async (o: { output?: string }) => {
    print(outputFormat(o), await ApiClient.fromStoredLogin().call<UserView[]>('GET', '/api/v1/users'), userColumns);
  });
  withOutput(user.command('delete').description('delete a user').requiredOption('-n, --name <name>', 'user name').option('-y, --yes', 'do not ask')).action(
    async (o: { name: string; output?: string }) => {
      await ApiClient.fromStoredLogin().call('DELETE', `/api/v1/users/${encodeURIComponent(o.name)}`);
      printMessage(outputFormat(o), `Deleted user ${o.name}`, { name: o.name, deleted: true });
    },
  );
  withOutput(
    user.command('set-role').description("replace a user's roles").requiredOption('-n, --name <name>', 'user name').requiredOption('--role <roles...>', 'roles'),
  ).action(async (o: { name: string; role: string[]; output?: string }) => {
    print(outputFormat(o), await ApiClient.fromStoredLogin().call<UserView>('PUT', `/api/v1/users/${encodeURIComponent(o.name)}/roles`, { roles: o.role }), userColumns);
  });
}

export function registerAdminCommands(program: Command): void {
  const admin = program.command('admin').description('the built-in admin user');
  type AdminView = { username: string; enabled: boolean; passwordCreationTime: string };
  const showColumns: Column<AdminView>[] = [
    ['USERNAME', (a) => a.username],
    ['ENABLED', (a) => a.enabled],
    ['PASSWORD CREATED', (a) => a.passwordCreationTime],
  ];
  withOutput(admin.command('show-credentials').description('the admin user (passwords are stored hashed: only regenerate shows one)')).action(
    async (o: { output?: string }) => {
      print(outputFormat(o), await ApiClient.fromStoredLogin().call<AdminView>('GET', '/api/v1/admin'), showColumns);
    },
  );
  withOutput(admin.command('regenerate').description('set a new generated admin password and show it once')).action(async (o: { output?: string }) => {
    const result = await ApiClient.fromStoredLogin().call<{ username: string; password: string }>('POST', '/api/v1/admin/regenerate');
    printMessage(outputFormat(o), `USERNAME: ${result.username}\nPASSWORD: ${result.password}`, result);
  });
  for (const [name, enabled] of [
    ['enable', true],
    ['disable', false],
  ] as const) {
    withOutput(admin.command(name).description(`${name} the admin user`)).action(async (o: { output?: string }) => {
      print(outputFormat(o), await ApiClient.fromStoredLogin().call<AdminView>('PUT', '/api/v1/admin/enabled', { enabled }), showColumns);
    });
  }
}

export function registerConfigCommands(program: Command): void {
  const config = program.command('config').description('registry-wide settings');
  withOutput(config.command('show').description('show registry settings')).action(async (o: { output?: string }) => {
    print(outputFormat(o), await ApiClient.fromStoredLogin().call<{ anonymousPullEnabled: boolean }>('GET', '/api/v1/settings'), [['ANONYMOUS PULL', (s) => s.anonymousPullEnabled]]);
  });
  withOutput(
    config.command('anonymous-pull').description('allow pulls without credentials, registry-wide').requiredOption('--enabled <bool>', 'true or false'),
  ).action(async (o: { enabled: string; output?: string }) => {
    if (o.enabled !== 'true' && o.enabled !== 'false') throw new CliError('--enabled takes true or false');
    const result = await ApiClient.fromStoredLogin().call<{ anonymousPullEnabled: boolean }>('PATCH', '/api/v1/settings', { anonymousPullEnabled: o.enabled === 'true' });
    print(outputFormat(o), result, [['ANONYMOUS PULL', (s) => s.anonymousPullEnabled]]);
  });
  withOutput(config.command('rotate-signing-key').description('sign new tokens with a fresh key (existing tokens stay valid until they expire)')).action(
    async (o: { output?: string }) => {
      const result = await ApiClient.fromStoredLogin().call<{ kid: string; retired: string[] }>('POST', '/api/v1/signing-keys/rotate');
      printMessage(outputFormat(o), `New signing key ${result.kid}`, result);
    },
  );
}

export function registerAuditCommands(program: Command): void {
  const audit = program.command('audit').description('the audit log: logins, failed logins, permission changes');
  withOutput(
    audit
      .command('list')
      .description('newest first')
      .option('--kind <kind>', 'e.g. login.failed, token.created')
      .option('--actor <name>', 'who did it')
      .option('--target <name>', 'what it was done to')
      .option('--since <time>', 'ISO 8601')
      .option('--until <time>', 'ISO 8601')
      .option('--top <n>', 'at most this many', '100'),
  ).action(async (o: { kind?: string; actor?: string; target?: string; since?: string; until?: string; top: string; output?: string }) => {
    const query = new URLSearchParams();
    for (const key of ['kind', 'actor', 'target', 'since', 'until', 'top'] as const) if (o[key]) query.set(key, o[key]!);
    const events = await ApiClient.fromStoredLogin().call<AuditEvent[]>('GET', `/api/v1/audit?${query}`);
    print(outputFormat(o), events, [
      ['TIME', (e) => e.at],
      ['KIND', (e) => e.kind],
      ['ACTOR', (e) => e.actor],
      ['CLIENT', (e) => e.client],
      ['TARGET', (e) => e.target],
    ]);
  });
}
