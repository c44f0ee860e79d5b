import type { Command } from 'commander';
import type { VersionTagResult } from '../../registry/manifest-service.js';
import { ApiClient } from '../api-client.js';
import { invocation } from '../invocation.js';
import { outputFormat, print, withOutput } from '../output.js';
import { registerRepositoryDataCommands } from './repository-data.js';

/** `host/repo` → `repo` when host is this login's registry, so `{{.Run.Registry}}/repo` works as well. */
function repositoryName(value: string, server: string): string {
  const host = new URL(server).host;
  return value.startsWith(`${host}/`) ? value.slice(host.length + 1) : value;
}

export function registerRepositoryCommands(program: Command): void {
  const repository = program.command('repository').description('repositories and their tags (az acr repository)');
  registerRepositoryDataCommands(repository);
  withOutput(
    repository
      .command('tag-next-version')
      .description('tag a manifest with the next PREFIX-X.Y.Z version (PREFIX-1.0.0 first); prints the new tag')
      .requiredOption('--repository <name>', 'the repository (a bare name, or REGISTRY/name)')
      .requiredOption('--source <tag|digest>', 'the manifest to tag, by tag or digest')
      .requiredOption('--prefix <prefix>', 'version tags are PREFIX-X.Y.Z, e.g. 6.0-bullseye-slim')
      .option('--bump <part>', 'major, minor or patch', 'minor'),
  ).action(async (o: { repository: string; source: string; prefix: string; bump: string; output?: string }) => {
    const client = ApiClient.fromStoredLogin();
    const body = { repository: repositoryName(o.repository, client.server), source: o.source, prefix: o.prefix, bump: o.bump };
    const result = await client.call<VersionTagResult>('POST', '/api/v1/next-version-tags', body);
    // The bare tag by default, so a script can take it as is: TAG=$(berth repository tag-next-version ...).
    const format = outputFormat(o);
    if (format === 'table' && invocation().query === undefined) process.stdout.write(`${result.tag}\n`);
    else print(format, result, [['TAG', (r) => r.tag], ['VERSION', (r) => r.version], ['DIGEST', (r) => r.digest], ['PREVIOUS', (r) => r.previousVersion]]);
  });
}
