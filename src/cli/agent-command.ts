import { hostname } from 'node:os';
import type { Command } from 'commander';
import { HttpAgentBackend } from '../tasks/agents/http-agent-backend.js';
import { RunAgent } from '../tasks/agents/run-agent.js';
import { DockerTaskRunner } from '../tasks/docker/docker-runner.js';
import { CliError } from './api-client.js';
import { normalizePlatform } from '../tasks/platform.js';
import { createLogger, isLogFormat, logFormats } from '../observability/logger.js';
import { EgressPolicy, validateEgressRules } from '../network/egress.js';

interface AgentOptions {
  server: string;
  name?: string;
  concurrency: string;
  platform: string[];
  logLevel?: string;
  logFormat?: string;
}

export function registerAgentCommand(program: Command): void {
  program
    .command('agent')
    .description('execute runs for a Berth server from this machine, on its Docker engine')
    .requiredOption('--server <url>', 'the Berth server (its registry address as this machine reaches it)')
    .option('--name <name>', 'agent name shown in runs (default agent-<host>-<random>)')
    .option('--concurrency <n>', 'runs executed at once', '2')
    .option('--platform <os/arch>', 'a platform this engine also runs (binfmt/qemu emulation), besides its own; repeatable', (v: string, all: string[]) => [...all, v], [] as string[])
    .option('--log-level <level>', 'trace|debug|info|warn|error (env BERTH_LOG_LEVEL, default info)')
    .option('--log-format <format>', 'auto (default: pretty on a terminal, JSON lines otherwise), json or pretty (env BERTH_LOG_FORMAT)')
    .addHelpText(
      'after',
      '\nThe agent key comes from BERTH_AGENT_KEY, as set on the server. Tarball contexts and alias src URLs are\n' +
        "fetched under this machine's egress policy: BERTH_EGRESS_DENY / BERTH_EGRESS_ALLOW, as on the server. Its log goes to stderr.",
    )
    .action(async (options: AgentOptions) => {
      const key = process.env.BERTH_AGENT_KEY;
      if (!key) throw new CliError('set BERTH_AGENT_KEY to the key the server was started with');
      const concurrency = Number(options.concurrency);
      if (!Number.isInteger(concurrency) || concurrency < 1) throw new CliError('--concurrency must be a positive integer');
      const logFormat = options.logFormat ?? (process.env.BERTH_LOG_FORMAT || 'auto');
      if (!isLogFormat(logFormat)) throw new CliError(`invalid log format "${logFormat}": use ${logFormats.join(', ')}`);
      const name = options.name ?? `agent-${hostname().split('.')[0]}-${Math.random().toString(36).slice(2, 8)}`;
      // Like the server's log, on stderr (stdout stays free), every line naming the agent.
      const log = createLogger({ level: options.logLevel ?? (process.env.BERTH_LOG_LEVEL || 'info'), format: logFormat, destination: 2, base: { agent: name } });
      const backend = new HttpAgentBackend(options.server, key);
      try {
        await backend.ping(name);
      } catch (error) {
        throw new CliError(`cannot serve ${options.server}: ${(error as Error).message}`);
      }
      let extraPlatforms: string[];
      try {
        extraPlatforms = options.platform.map(normalizePlatform);
      } catch (error) {
        throw new CliError((error as Error).message);
      }
      let egress: EgressPolicy;
      try {
        const list = (value: string | undefined) => validateEgressRules((value ?? '').split(',').map((e) => e.trim()).filter((e) => e !== ''));
        egress = new EgressPolicy({ deny: list(process.env.BERTH_EGRESS_DENY), allow: list(process.env.BERTH_EGRESS_ALLOW) });
      } catch (error) {
        throw new CliError(`BERTH_EGRESS_DENY / BERTH_EGRESS_ALLOW: ${(error as Error).message}`);
      }
      const agent = new RunAgent(backend, new DockerTaskRunner(), log, concurrency, name, extraPlatforms, egress);
      await agent.start();
      // The agent's own timers do not hold the process open (inside the server they must not).
      const keepAlive = setInterval(() => undefined, 60_000);
      process.stderr.write(`berth: agent ${agent.id} executing runs for ${options.server}\n`);
      let stopping = false;
      const stop = (): void => {
        if (stopping) return;
        stopping = true;
        process.stderr.write(`berth: agent ${agent.id} stopping after its ${agent.running} run(s) in progress\n`);
        void agent.stop().then(() => {
          clearInterval(keepAlive);
          process.exit(0);
        });
      };
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
    });
}
