import type { Command } from 'commander';
import type { PurgeResult } from '../../lifecycle/purge-service.js';
import { ApiClient, CliError } from '../api-client.js';
import { outputFormat, print, withOutput } from '../output.js';

/** Human sizes for the dry-run summary (the JSON answer has bytes). */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** ACR's report: each tag and manifest, then `Number of deleted tags: N` / `Number of deleted manifests: M`. */
export function purgeReport(result: PurgeResult, host: string): string {
  const lines: string[] = [];
  for (const repo of result.repositories) {
    if (result.dryRun) {
      for (const tag of repo.tags) lines.push(`Would delete: ${host}/${repo.repository}:${tag}`);
      for (const digest of repo.manifests) lines.push(`Would delete: ${host}/${repo.repository}@${digest}`);
      continue;
    }
    if (repo.tags.length > 0) lines.push(`Deleting tags for repository: ${repo.repository}`, ...repo.tags.map((t) => `${host}/${repo.repository}:${t}`));
    if (repo.manifests.length > 0) lines.push(`Deleting manifests for repository: ${repo.repository}`, ...repo.manifests.map((d) => `${host}/${repo.repository}@${d}`));
  }
  if (result.skipped > 0) lines.push(`Kept because they changed while purging: ${result.skipped}`);
  lines.push(`Number of deleted tags: ${result.deletedTags}`, `Number of deleted manifests: ${result.deletedManifests}`);
  lines.push(`${result.dryRun ? 'Bytes that would be freed' : 'Bytes freed'} (after garbage collection): ${result.bytesFreed} (${formatBytes(result.bytesFreed)})`);
  return `${lines.join('\n')}\n`;
}

const collect = (value: string, previous: string[]) => [...previous, value];
const whole = (name: string) => (value: string) => {
  if (!/^\d+$/.test(value)) throw new CliError(`${name} takes a whole number`);
  return Number(value);
};

export function registerPurgeCommand(program: Command): void {
  withOutput(
    program
      .command('purge')
      .description("delete tags and untagged manifests by filter and age, on the server (acr purge); try --dry-run first")
      .option('-f, --filter <repo:tagRegex>', 'repository regex (anchored) and tag regex, as acr purge; repeatable', collect, [] as string[])
      .option('--ago <duration>', 'only what was last updated before this long ago: [N]d[duration], e.g. 1d, 2d3h6m, 10m')
      .option('--keep <n>', 'of the matching tags old enough, keep the newest N (with --untagged-only: N newest untagged manifests)', whole('--keep'))
      .option('--untagged', 'also delete untagged manifests (never children of kept indexes, never referrers of kept manifests)')
      .option('--untagged-only', 'only untagged manifests; --filter (repository part) optional')
      .option('--dry-run', 'show what would be deleted and the bytes it would free, delete nothing')
      .option('--include-locked', 'also delete locked content (accepted; Berth has no locks yet)')
      .option('--concurrency <n>', 'repositories purged at once (1-32)', whole('--concurrency'))
      .option('--timeout <seconds>', 'accepted for acr purge compatibility (the server runs to completion)'),
  ).action(async (o: { filter: string[]; ago?: string; keep?: number; untagged?: boolean; untaggedOnly?: boolean; dryRun?: boolean; includeLocked?: boolean; concurrency?: number; output?: string }) => {
    const client = ApiClient.fromStoredLogin();
    const body = {
      filters: o.filter,
      ...(o.ago !== undefined ? { ago: o.ago } : {}),
      ...(o.keep !== undefined ? { keep: o.keep } : {}),
      untagged: o.untagged ?? false,
      untaggedOnly: o.untaggedOnly ?? false,
      dryRun: o.dryRun ?? false,
      includeLocked: o.includeLocked ?? false,
      ...(o.concurrency !== undefined ? { concurrency: o.concurrency } : {}),
    };
    const result = await client.call<PurgeResult>('POST', '/api/v1/purge', body);
    const format = outputFormat(o);
    if (format === 'table') process.stdout.write(purgeReport(result, new URL(client.server).host));
    else print(format, result, []);
  });
}
