import type { Command } from 'commander';
import type { DeletedManifest, DeletedRepository, DeletedTag, RestoreResult, SoftDeletePolicy } from '../../lifecycle/soft-delete.js';
import { ApiClient, CliError } from '../api-client.js';
import { parseImage, stripRegistry } from '../data-api.js';
import { outputFormat, print, withOutput } from '../output.js';

const policyColumns: Array<[string, (p: SoftDeletePolicy) => unknown]> = [
  ['STATUS', (p) => p.status],
  ['DAYS', (p) => p.days],
];
const repositoryColumns: Array<[string, (r: DeletedRepository) => unknown]> = [
  ['NAME', (r) => r.name],
  ['MANIFESTS', (r) => r.manifests],
  ['TAGS', (r) => r.tags],
  ['LAST DELETED', (r) => r.lastDeletedAt],
];
const manifestColumns: Array<[string, (m: DeletedManifest) => unknown]> = [
  ['DIGEST', (m) => m.digest],
  ['TAGS', (m) => m.tags.join(', ')],
  ['MEDIA TYPE', (m) => m.mediaType],
  ['SIZE', (m) => m.size],
  ['DELETED', (m) => m.deletedAt],
  ['EXPIRES', (m) => m.expiresAt],
];
const tagColumns: Array<[string, (t: DeletedTag) => unknown]> = [
  ['TAG', (t) => t.tag],
  ['DIGEST', (t) => t.digest],
  ['DELETED', (t) => t.deletedAt],
  ['EXPIRES', (t) => t.expiresAt],
  ['MANIFEST', (t) => (t.manifestLive ? 'live' : 'deleted')],
];
const restoreColumns: Array<[string, (r: RestoreResult) => unknown]> = [
  ['REPOSITORY', (r) => r.repository],
  ['DIGEST', (r) => r.digest],
  ['TAGS', (r) => r.tags.join(', ')],
  ['SKIPPED TAGS', (r) => r.skippedTags.join(', ')],
  ['MANIFESTS RESTORED', (r) => r.manifestsRestored.length],
];

/** `REPO` or `REPO:TAG` (a colon after the last slash is a tag; a registry port comes before one). */
function repositoryAndTag(value: string, server: string): { repository: string; tag: string | null } {
  const bare = stripRegistry(value, server);
  const colon = bare.lastIndexOf(':');
  if (colon > bare.lastIndexOf('/') && colon > 0) return { repository: bare.slice(0, colon), tag: bare.slice(colon + 1) };
  return { repository: bare, tag: null };
}

/**
 * Soft delete as az acr has it: `config soft-delete update|show`, `repository list-deleted`,
 * `manifest list-deleted|list-deleted-tags|restore`. Registered after config, repository and manifest.
 */
export function registerSoftDeleteCommands(program: Command): void {
  const find = (name: string) => {
    const command = program.commands.find((c) => c.name() === name);
    if (!command) throw new Error(`register the ${name} commands first`);
    return command;
  };

  const softDelete = find('config').command('soft-delete').description('keep deleted manifests and tags restorable for N days, then purge them');
  withOutput(
    softDelete
      .command('update')
      .description('set the soft delete policy (az acr config soft-delete update); off by default: while on, a delete frees no storage for N days')
      .requiredOption('--status <status>', 'enabled or disabled')
      .option('--days <n>', 'days deleted content stays restorable, 1-90', '7'),
  ).action(async (o: { status: string; days: string; output?: string }) => {
    if (o.status !== 'enabled' && o.status !== 'disabled') throw new CliError('--status takes enabled or disabled');
    if (!/^\d+$/.test(o.days) || Number(o.days) < 1 || Number(o.days) > 90) throw new CliError('--days takes a whole number from 1 to 90');
    const policy = await ApiClient.fromStoredLogin().call<SoftDeletePolicy>('PUT', '/api/v1/soft-delete', { status: o.status, days: Number(o.days) });
    print(outputFormat(o), policy, policyColumns);
  });
  withOutput(softDelete.command('show').description('the soft delete policy')).action(async (o: { output?: string }) => {
    print(outputFormat(o), await ApiClient.fromStoredLogin().call<SoftDeletePolicy>('GET', '/api/v1/soft-delete'), policyColumns);
  });

  withOutput(find('repository').command('list-deleted').description('repositories whose content is all deleted and still restorable')).action(async (o: { output?: string }) => {
    print(outputFormat(o), await ApiClient.fromStoredLogin().call<DeletedRepository[]>('GET', '/api/v1/deleted/repositories'), repositoryColumns);
  });

  const manifest = find('manifest');
  withOutput(
    manifest
      .command('list-deleted')
      .description("a repository's restorable manifests, newest deletion first")
      .argument('[repository]', 'REGISTRY/REPOSITORY or REPOSITORY')
      .option('-n, --name <repository>', 'the repository')
      .option('--repository <repository>', 'the repository (as -n)'),
  ).action(async (positional: string | undefined, o: { name?: string; repository?: string; output?: string }) => {
    const value = o.name ?? o.repository ?? positional;
    if (value === undefined) throw new CliError('name the repository: -n REPOSITORY');
    const client = ApiClient.fromStoredLogin();
    const name = stripRegistry(value, client.server);
    print(outputFormat(o), await client.call<DeletedManifest[]>('GET', `/api/v1/deleted/manifests?repository=${encodeURIComponent(name)}`), manifestColumns);
  });
  withOutput(
    manifest
      .command('list-deleted-tags')
      .description("a repository's restorable tags, or one tag's deletions")
      .argument('[name]', 'REPOSITORY or REPOSITORY:TAG')
      .option('-n, --name <name>', 'REPOSITORY or REPOSITORY:TAG'),
  ).action(async (positional: string | undefined, o: { name?: string; output?: string }) => {
    const value = o.name ?? positional;
    if (value === undefined) throw new CliError('name the repository: -n REPOSITORY[:TAG]');
    const client = ApiClient.fromStoredLogin();
    const { repository, tag } = repositoryAndTag(value, client.server);
    const query = `repository=${encodeURIComponent(repository)}${tag !== null ? `&tag=${encodeURIComponent(tag)}` : ''}`;
    print(outputFormat(o), await client.call<DeletedTag[]>('GET', `/api/v1/deleted/tags?${query}`), tagColumns);
  });
  withOutput(
    manifest
      .command('restore')
      .description('put a deleted manifest (byte for byte) and its tag back; journaled as a push')
      .argument('[name]', 'REPOSITORY:TAG (or REPOSITORY with -d)')
      .option('-n, --name <name>', 'REPOSITORY:TAG, or REPOSITORY with -d (the digest with the tags it had that are free)')
      .option('-d, --digest <digest>', 'the deleted digest (default: the one the tag pointed at when it was last deleted)')
      .option('-f, --force', 'move the tag even if it now points at another manifest'),
  ).action(async (positional: string | undefined, o: { name?: string; digest?: string; force?: boolean; output?: string }) => {
    const value = o.name ?? positional;
    if (value === undefined) throw new CliError('name the image: -n REPOSITORY:TAG [-d DIGEST]');
    const client = ApiClient.fromStoredLogin();
    let target: { repository: string; tag: string | null; digest: string | null };
    if (value.includes('@')) {
      const image = parseImage(value, client.server);
      target = { repository: image.repository, tag: null, digest: image.reference };
    } else {
      target = { ...repositoryAndTag(value, client.server), digest: o.digest ?? null };
    }
    if (target.tag === null && target.digest === null) throw new CliError('name a tag (-n REPOSITORY:TAG) or a digest (-d DIGEST)');
    const body = { repository: target.repository, ...(target.tag !== null ? { tag: target.tag } : {}), ...(target.digest !== null ? { digest: target.digest } : {}), force: o.force ?? false };
    print(outputFormat(o), await client.call<RestoreResult>('POST', '/api/v1/deleted/restore', body), restoreColumns);
  });
}
