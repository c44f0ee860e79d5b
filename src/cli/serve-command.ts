import type { Command } from 'commander';
import { describeSettings, resolveSettings, type SettingsOverrides } from '../config/settings.js';
import { composeServer } from '../server/compose.js';

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('run the registry (embedded defaults: SQLite metadata, filesystem blobs)')
    .option('--listen <host:port>', 'address to listen on (env BERTH_LISTEN, default 127.0.0.1:5000)')
    .option('--data-dir <dir>', 'data directory (env BERTH_DATA_DIR, default ./berth-data)')
    .option('--config <file>', 'YAML config file (env BERTH_CONFIG)')
    .option('--tls-cert <file>', 'PEM certificate (full chain allowed) to serve HTTPS')
    .option('--tls-key <file>', 'PEM private key for --tls-cert')
    .option('--log-level <level>', 'trace|debug|info|warn|error (default info)')
    .option('--log-format <format>', 'auto (default: pretty on a terminal, JSON lines otherwise), json or pretty (env BERTH_LOG_FORMAT)')
    .option('--auth <mode>', 'required (default) or none: no authentication at all, for local experiments')
    .option('--secret-key-file <file>', 'key for secrets at rest (or BERTH_SECRET_KEY; default: generated in the data dir)')
    .option('--no-local-agent', 'execute no runs in the server itself (env BERTH_LOCAL_AGENT=false); remote agents only')
    .option('--public-url <url>', 'URL clients use to reach the registry (env BERTH_PUBLIC_URL); names the token realm and service')
    .option('--agent-key-file <file>', 'key that remote agents (berth agent) present (or BERTH_AGENT_KEY); without one the agent API is off')
    .action(async (options: SettingsOverrides) => {
      const settings = resolveSettings(options);
      const server = await composeServer(settings);
      server.app.log.info({ settings: describeSettings(settings) }, 'berth starting');
      const address = await server.listen();
      const scheme = settings.tls ? 'https' : 'http';
      process.stderr.write(`berth: registry listening on ${scheme}://${address.host}:${address.port} (data in ${settings.dataDir})\n`);
      let stopping = false;
      const stop = (signal: string): void => {
        if (stopping) return;
        stopping = true;
        server.app.log.info({ signal }, 'berth shutting down');
        server.close().then(
          () => process.exit(0),
          (error: unknown) => {
            server.app.log.error({ err: error }, 'shutdown failed');
            process.exit(1);
          },
        );
      };
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
    });
}
