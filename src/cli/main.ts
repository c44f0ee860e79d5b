#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { SettingsError } from '../config/settings.js';
import { registerServeCommand } from './serve-command.js';
import { berthVersion } from '../version.js';


const program = new Command()
  .name('berth')
  .description('Berth: a self-hosted container registry with built-in image automation')
  .version(berthVersion, '-v, --version')
  .showHelpAfterError();
registerServeCommand(program);

program.parseAsync(process.argv).catch((error: unknown) => {
  if (error instanceof CommanderError) process.exit(error.exitCode);
  const message = error instanceof SettingsError ? error.message : error instanceof Error ? (error.stack ?? error.message) : String(error);
  process.stderr.write(`berth: ${message}\n`);
  process.exit(1);
});
