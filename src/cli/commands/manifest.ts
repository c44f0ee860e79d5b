import type { Command } from 'commander';
import { CliError } from '../api-client.js';
import { loginFor } from '../credentials.js';
import { dataClient, listAll, orderbyParam, parseImage, repositoryScope, stripRegistry, topOption } from '../data-api.js';
import { invocation } from '../invocation.js';
import { outputFormat, print, withOutput } from '../output.js';
import { manifestColumns, printDeletion, type DeletionReport, type ManifestView } from './repository-data.js';

interface Referrer { digest: string; mediaType: string; artifactType?: string; size: number; annotations?: Record<string, string> }

function server(): string | undefined {
  return loginFor(invocation().registry)?.server;
}

/** `-n REPO:TAG|REPO@DIGEST` (az's -n here is the image), or a positional `REGISTRY/REPO:TAG`. */
function imageOf(positional: string | undefined, name: string | undefined): ReturnType<typeof parseImage> {
  const value = name ?? positional;
  if (value === undefined) throw new CliError('name the image: -n REPOSITORY:TAG or REPOSITORY@DIGEST');
  return parseImage(value, server());
}

/** `berth manifest list-metadata|show|delete|list-referrers`, as `az acr manifest`. */
export function registerManifestCommands(program: Command): void {
  const manifest = program.command('manifest').description('manifests and their metadata (az acr manifest)');

  withOutput(
    manifest
      .command('list-metadata')
      .description('manifests of a repository with sizes, platforms, tags, push and pull times')
      .argument('[repository]', 'REGISTRY/REPOSITORY or REPOSITORY')
      .option('-n, --name <repository>', 'the repository')
      .option('--repository <repository>', 'the repository (as -n)')
      .option('--orderby <order>', 'time_desc or time_asc (default: by digest)')
      .option('--top <n>', 'at most this many'),
  ).action(async (positional: string | undefined, o: { name?: string; repository?: string; orderby?: string; top?: string; output?: string }) => {
    const value = o.name ?? o.repository ?? positional;
    if (value === undefined) throw new CliError('name the repository: -n REPOSITORY');
    const name = stripRegistry(value, server());
    const manifests = await listAll<ManifestView>(dataClient([repositoryScope(name, 'pull')]), `/acr/v1/${name}/_manifests`, 'manifests', { orderby: orderbyParam(o.orderby) }, topOption(o.top));
    print(outputFormat(o), manifests, manifestColumns);
  });

  withOutput(
    manifest
      .command('show')
      .description('the manifest itself, as stored')
      .argument('[image]', 'REGISTRY/REPOSITORY:TAG or ...@DIGEST')
      .option('-n, --name <image>', 'REPOSITORY:TAG or REPOSITORY@DIGEST')
      .option('--raw', 'the bytes exactly as pushed'),
  ).action(async (positional: string | undefined, o: { name?: string; raw?: boolean; output?: string }) => {
    const image = imageOf(positional, o.name);
    const response = await dataClient([repositoryScope(image.repository, 'pull')]).raw('GET', `/v2/${image.repository}/manifests/${image.reference}`, undefined);
    const text = await response.text();
    if (o.raw) {
      process.stdout.write(text);
      return;
    }
    // A manifest is a document: a table has nothing to add, so it prints as JSON.
    const format = outputFormat(o);
    print(format === 'table' ? 'json' : format, JSON.parse(text) as unknown, []);
  });

  withOutput(
    manifest
      .command('delete')
      .description('delete a manifest; by tag, it goes with every tag on it (reported)')
      .argument('[image]', 'REGISTRY/REPOSITORY:TAG or ...@DIGEST')
      .option('-n, --name <image>', 'REPOSITORY:TAG or REPOSITORY@DIGEST')
      .option('-y, --yes', 'do not ask (kept for az compatibility)'),
  ).action(async (positional: string | undefined, o: { name?: string; output?: string }) => {
    const image = imageOf(positional, o.name);
    const report = await dataClient([repositoryScope(image.repository, 'pull,delete')]).call<DeletionReport>('DELETE', `/acr/v1/${image.repository}/_manifests/${image.reference}`);
    printDeletion(outputFormat(o), report);
  });

  withOutput(
    manifest
      .command('list-referrers')
      .description('signatures, SBOMs and other artifacts whose subject is this manifest')
      .argument('[image]', 'REGISTRY/REPOSITORY:TAG or ...@DIGEST')
      .option('-n, --name <image>', 'REPOSITORY:TAG or REPOSITORY@DIGEST')
      .option('--artifact-type <type>', 'only referrers of this artifact type'),
  ).action(async (positional: string | undefined, o: { name?: string; artifactType?: string; output?: string }) => {
    const image = imageOf(positional, o.name);
    const client = dataClient([repositoryScope(image.repository, 'pull')]);
    const digest = image.digest ?? (await client.call<{ manifest: { digest: string } }>('GET', `/acr/v1/${image.repository}/_manifests/${image.reference}`)).manifest.digest;
    const query = o.artifactType ? `?artifactType=${encodeURIComponent(o.artifactType)}` : '';
    const index = await client.call<{ manifests: Referrer[] }>('GET', `/v2/${image.repository}/referrers/${digest}${query}`);
    const format = outputFormat(o);
    const columns: Array<[string, (r: Referrer) => unknown]> = [['Digest', (r) => r.digest], ['ArtifactType', (r) => r.artifactType], ['MediaType', (r) => r.mediaType], ['Size', (r) => r.size]];
    if (format === 'table') print(format, index.manifests, columns);
    else print(format, { references: index.manifests }, []);
  });
}
