#!/usr/bin/env -S node --no-memory-reducer --initial-old-space-size=128
import { Command, CommanderError } from 'commander';
import { SettingsError } from '../config/settings.js';
import { registerServeCommand } from './serve-command.js';
import { registerAgentCommand } from './agent-command.js';
import { registerLoginCommands } from './commands/login.js';
import { registerTokenCommands } from './commands/token.js';
import { registerScopeMapCommands } from './commands/scope-map.js';
import { registerAdminCommands, registerAuditCommands, registerConfigCommands, registerUserCommands } from './commands/user.js';
import { registerWebhookCommands } from './commands/webhook.js';
import { registerImportCommands } from './commands/import.js';
import { registerRunCommands } from './commands/runs.js';
import { registerTaskCommands } from './commands/task.js';
import { registerSecretCommands } from './commands/secret.js';
import { registerRepositoryCommands } from './commands/repository.js';
import { registerManifestCommands } from './commands/manifest.js';
import { registerNotifyCommand } from './commands/notify.js';
import { registerPurgeCommand } from './commands/purge.js';
import { registerGcCommands, registerRetentionCommands } from './commands/gc.js';
import { registerSoftDeleteCommands } from './commands/soft-delete.js';
import { registerPolicyCommands } from './commands/policy.js';
import { CliError } from './api-client.js';
import { setInvocation } from './invocation.js';
import { berthVersion } from '../version.js';

const program = new Command()
  .name('berth')
  .description('Berth: a self-hosted container registry with built-in image automation')
  .version(berthVersion, '-v, --version')
  .showHelpAfterError()
  .hook('preAction', (_program, command) => {
    const options = command.opts<{ query?: string; registry?: string }>();
    setInvocation({ query: options.query, registry: options.registry });
  });
registerServeCommand(program);
registerAgentCommand(program);
registerLoginCommands(program);
registerTokenCommands(program);
registerScopeMapCommands(program);
registerUserCommands(program);
registerAdminCommands(program);
registerConfigCommands(program);
registerRetentionCommands(program);
registerAuditCommands(program);
registerWebhookCommands(program);
registerImportCommands(program);
registerTaskCommands(program);
registerSecretCommands(program);
registerRunCommands(program);
registerRepositoryCommands(program);
registerManifestCommands(program);
registerNotifyCommand(program);
registerPurgeCommand(program);
registerGcCommands(program);
registerSoftDeleteCommands(program);
registerPolicyCommands(program);

program.parseAsync(process.argv).catch((error: unknown) => {
  if (error instanceof CommanderError) process.exit(error.exitCode);
  const message = error instanceof SettingsError || error instanceof CliError ? error.message : error instanceof Error ? (error.stack ?? error.message) : String(error);
  process.stderr.write(`berth: ${message}\n`);
  process.exit(1);
});
