import type { Command } from 'commander';
import { CliError } from '../api-client.js';
import { booleanOption, catalogScope, dataClient, listAll, orderbyParam, parseImage, repositoryScope, stripRegistry, topOption } from '../data-api.js';
import { print, printMessage, outputFormat, withOutput, type Column } from '../output.js';
import { loginFor } from '../credentials.js';
import { invocation, setInvocation } from '../invocation.js';

export interface TagView { name: string; digest: string; createdTime: string; lastUpdateTime: string; signed: boolean; changeableAttributes: Record<string, boolean>; lastPulledTime: string | null; pullCount: number }
export interface ManifestView {
  digest: string; imageSize: number; createdTime: string; lastUpdateTime: string; architecture?: string; os?: string; mediaType: string; configMediaType?: string;
  tags: string[]; references?: Array<{ digest: string; architecture?: string; os?: string }>; changeableAttributes: Record<string, boolean>; lastPulledTime: string | null; pullCount: number;
}
interface RepositoryView { registry: string; imageName: string; createdTime: string; lastUpdateTime: string; manifestCount: number; tagCount: number; changeableAttributes: Record<string, boolean>; storage: { referencedBytes: number; uniqueBytes: number; sharedBytes: number } }
export interface DeletionReport { manifestsDeleted: string[]; tagsDeleted: string[] }

// az prints these objects' keys as columns; Berth's own fields follow ACR's.
export const tagColumns: Column<TagView>[] = [
  ['Name', (t) => t.name], ['Digest', (t) => t.digest], ['CreatedTime', (t) => t.createdTime], ['LastUpdateTime', (t) => t.lastUpdateTime], ['Signed', (t) => t.signed],
  ['LastPulledTime', (t) => t.lastPulledTime], ['PullCount', (t) => t.pullCount],
];
export const manifestColumns: Column<ManifestView>[] = [
  ['Digest', (m) => m.digest], ['MediaType', (m) => m.mediaType], ['ImageSize', (m) => m.imageSize], ['CreatedTime', (m) => m.createdTime], ['LastUpdateTime', (m) => m.lastUpdateTime],
  ['Architecture', (m) => m.architecture ?? (m.references ?? []).map((r) => `${r.os}/${r.architecture}`).join(', ')], ['Os', (m) => m.os], ['Tags', (m) => m.tags],
  ['LastPulledTime', (m) => m.lastPulledTime], ['PullCount', (m) => m.pullCount],
];
const repositoryColumns: Column<RepositoryView>[] = [
  ['Registry', (r) => r.registry], ['ImageName', (r) => r.imageName], ['CreatedTime', (r) => r.createdTime], ['LastUpdateTime', (r) => r.lastUpdateTime],
  ['ManifestCount', (r) => r.manifestCount], ['TagCount', (r) => r.tagCount],
  ['ReferencedBytes', (r) => r.storage.referencedBytes], ['UniqueBytes', (r) => r.storage.uniqueBytes], ['SharedBytes', (r) => r.storage.sharedBytes],
];
const resultColumn: Column<string>[] = [['Result', (v) => v]];

/** `update` answers with the changed object; its table leads with the four attributes it set. */
function withAttributes<T extends { changeableAttributes: Record<string, boolean> }>(columns: Column<T>[], after = 1): Column<T>[] {
  const attributes: Column<T>[] = (['deleteEnabled', 'writeEnabled', 'readEnabled', 'listEnabled'] as const).map((a) => [
    a[0]!.toUpperCase() + a.slice(1),
    (v: T) => v.changeableAttributes[a],
  ]);
  return [...columns.slice(0, after), ...attributes, ...columns.slice(after)];
}

/** az's `-n/--name REGISTRY`: Berth's `-r`. */
function withRegistryName(command: Command): Command {
  return withOutput(command).option('-n, --name <registry>', 'the registry (as -r; az compatibility)');
}

function useRegistryName(o: { name?: string }): void {
  if (o.name !== undefined) setInvocation({ ...invocation(), registry: o.name });
}

function server(): string | undefined {
  return loginFor(invocation().registry)?.server;
}

/** `--repository R` or `--image R:tag|R@digest`, exactly one. */
function target(o: { repository?: string; image?: string }): { repository: string; image?: ReturnType<typeof parseImage> } {
  if ((o.repository === undefined) === (o.image === undefined)) throw new CliError('give either --repository or --image');
  if (o.image !== undefined) {
    const image = parseImage(o.image, server());
    return { repository: image.repository, image };
  }
  return { repository: stripRegistry(o.repository!, server()) };
}

export function printDeletion(format: ReturnType<typeof outputFormat>, report: DeletionReport): void {
  const what = report.manifestsDeleted.length > 0 ? `Deleted manifests: ${report.manifestsDeleted.join(', ')}; tags: ${report.tagsDeleted.join(', ') || '(none)'}` : `Untagged: ${report.tagsDeleted.join(', ')}`;
  printMessage(format, what, report);
}

/** `berth repository list|show|show-tags|show-manifests|delete|untag|update`, as `az acr repository`. */
export function registerRepositoryDataCommands(repository: Command): void {
  withRegistryName(repository.command('list').description('list repositories').option('--top <n>', 'at most this many')).action(async (o: { top?: string; output?: string; name?: string }) => {
    useRegistryName(o);
    const names = await listAll<string>(dataClient([catalogScope]), '/acr/v1/_catalog', 'repositories', {}, topOption(o.top));
    print(outputFormat(o), names, resultColumn);
  });

  withRegistryName(
    repository.command('show').description('a repository\'s attributes (with storage figures), or an image\'s').option('--repository <name>', 'the repository').option('--image <image>', 'REPOSITORY:TAG or REPOSITORY@DIGEST'),
  ).action(async (o: { repository?: string; image?: string; output?: string; name?: string }) => {
    useRegistryName(o);
    const { repository: name, image } = target(o);
    const client = dataClient([repositoryScope(name, 'pull')]);
    const format = outputFormat(o);
    if (!image) return print(format, await client.call<RepositoryView>('GET', `/acr/v1/${name}`), repositoryColumns);
    if (image.tag !== undefined) return print(format, (await client.call<{ tag: TagView }>('GET', `/acr/v1/${name}/_tags/${image.tag}`)).tag, tagColumns);
    return print(format, (await client.call<{ manifest: ManifestView }>('GET', `/acr/v1/${name}/_manifests/${image.reference}`)).manifest, manifestColumns);
  });

  withRegistryName(
    repository
      .command('show-tags')
      .description('tags of a repository: names, or with --detail their attributes, push and pull times')
      .requiredOption('--repository <name>', 'the repository')
      .option('--orderby <order>', 'time_desc or time_asc (default: by name)')
      .option('--detail', 'tag attributes instead of names')
      .option('--top <n>', 'at most this many'),
  ).action(async (o: { repository: string; orderby?: string; detail?: boolean; top?: string; output?: string; name?: string }) => {
    useRegistryName(o);
    const name = stripRegistry(o.repository, server());
    const tags = await listAll<TagView>(dataClient([repositoryScope(name, 'pull')]), `/acr/v1/${name}/_tags`, 'tags', { orderby: orderbyParam(o.orderby) }, topOption(o.top));
    if (o.detail) print(outputFormat(o), tags, tagColumns);
    else print(outputFormat(o), tags.map((t) => t.name), resultColumn);
  });

  withRegistryName(
    repository
      .command('show-manifests')
      .description('manifests of a repository (deprecated in az for `manifest list-metadata`)')
      .requiredOption('--repository <name>', 'the repository')
      .option('--orderby <order>', 'time_desc or time_asc (default: by digest)')
      .option('--detail', 'all manifest attributes')
      .option('--top <n>', 'at most this many'),
  ).action(async (o: { repository: string; orderby?: string; detail?: boolean; top?: string; output?: string; name?: string }) => {
    useRegistryName(o);
    const name = stripRegistry(o.repository, server());
    const manifests = await listAll<ManifestView>(dataClient([repositoryScope(name, 'pull')]), `/acr/v1/${name}/_manifests`, 'manifests', { orderby: orderbyParam(o.orderby) }, topOption(o.top));
    if (o.detail) return print(outputFormat(o), manifests, manifestColumns);
    // az's short form: digest, tags and timestamp.
    const short = manifests.map((m) => ({ digest: m.digest, tags: m.tags, timestamp: m.lastUpdateTime }));
    print(outputFormat(o), short, [['Digest', (m) => m.digest], ['Tags', (m) => m.tags], ['Timestamp', (m) => m.timestamp]]);
  });

  withRegistryName(
    repository
      .command('delete')
      .description('delete a repository, or an image: by tag the manifest goes with every tag on it')
      .option('--repository <name>', 'the repository')
      .option('--image <image>', 'REPOSITORY:TAG or REPOSITORY@DIGEST')
      .option('-y, --yes', 'do not ask (kept for az compatibility)'),
  ).action(async (o: { repository?: string; image?: string; output?: string; name?: string }) => {
    useRegistryName(o);
    const { repository: name, image } = target(o);
    const client = dataClient([repositoryScope(name, 'pull,delete')]);
    const path = image ? `/acr/v1/${name}/_manifests/${image.reference}` : `/acr/v1/${name}`;
    printDeletion(outputFormat(o), await client.call<DeletionReport>('DELETE', path));
  });

  withRegistryName(repository.command('untag').description('remove a tag; the manifest stays').requiredOption('--image <image>', 'REPOSITORY:TAG')).action(
    async (o: { image: string; output?: string; name?: string }) => {
      useRegistryName(o);
      const image = parseImage(o.image, server());
      if (image.tag === undefined) throw new CliError('untag needs REPOSITORY:TAG');
      // ACR answers 202 with no body.
      await dataClient([repositoryScope(image.repository, 'pull,delete')]).raw('DELETE', `/acr/v1/${image.repository}/_tags/${image.tag}`);
      printDeletion(outputFormat(o), { manifestsDeleted: [], tagsDeleted: [image.tag] });
    },
  );

  withRegistryName(
    repository
      .command('update')
      .description('lock or unlock a repository, tag or manifest: --write-enabled false refuses overwrite and delete, --delete-enabled false delete, --read-enabled false pulls, --list-enabled false hides it from listings')
      .option('--repository <name>', 'the repository')
      .option('--image <image>', 'REPOSITORY:TAG or REPOSITORY@DIGEST')
      .option('--delete-enabled <bool>', 'true or false')
      .option('--list-enabled <bool>', 'true or false')
      .option('--read-enabled <bool>', 'true or false')
      .option('--write-enabled <bool>', 'true or false'),
  ).action(async (o: { repository?: string; image?: string; deleteEnabled?: string; listEnabled?: string; readEnabled?: string; writeEnabled?: string; output?: string; name?: string }) => {
    useRegistryName(o);
    const { repository: name, image } = target(o);
    const change = Object.fromEntries(
      Object.entries({
        deleteEnabled: booleanOption('delete-enabled', o.deleteEnabled),
        listEnabled: booleanOption('list-enabled', o.listEnabled),
        readEnabled: booleanOption('read-enabled', o.readEnabled),
        writeEnabled: booleanOption('write-enabled', o.writeEnabled),
      }).filter(([, v]) => v !== undefined),
    );
    const client = dataClient([repositoryScope(name, 'pull,push')]);
    const format = outputFormat(o);
    if (!image) return print(format, await client.call<RepositoryView>('PATCH', `/acr/v1/${name}`, change), withAttributes(repositoryColumns, 2));
    if (image.tag !== undefined) return print(format, (await client.call<{ tag: TagView }>('PATCH', `/acr/v1/${name}/_tags/${image.tag}`, change)).tag, withAttributes(tagColumns));
    return print(format, (await client.call<{ manifest: ManifestView }>('PATCH', `/acr/v1/${name}/_manifests/${image.reference}`, change)).manifest, withAttributes(manifestColumns));
  });
}
