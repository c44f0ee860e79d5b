import type { Command } from 'commander';
import type { GcRunRecord, RetentionPolicy } from '../../lifecycle/lifecycle-store.js';
import { ApiClient, CliError } from '../api-client.js';
import { outputFormat, print, withOutput } from '../output.js';

const runColumns: Array<[string, (r: GcRunRecord) => unknown]> = [
  ['STARTED', (r) => r.startedAt],
  ['TRIGGER', (r) => r.trigger],
  ['DRY RUN', (r) => r.dryRun],
  ['CANDIDATES', (r) => r.candidates],
  ['BLOBS DELETED', (r) => r.blobsDeleted],
  ['BYTES FREED', (r) => r.bytesFreed],
  ['UPLOADS DELETED', (r) => r.uploadsDeleted],
  ['DURATION MS', (r) => r.durationMs],
];

export function registerGcCommands(program: Command): void {
  const gc = program.command('gc').description('online garbage collection: bytes no manifest references (the registry stays writable)');
  withOutput(gc.command('run').description('collect now').option('--dry-run', 'count what would go, delete nothing')).action(async (o: { dryRun?: boolean; output?: string }) => {
    const run = await ApiClient.fromStoredLogin().call<GcRunRecord>('POST', '/api/v1/gc/runs', { dryRun: o.dryRun ?? false });
    print(outputFormat(o), run, runColumns);
  });
  withOutput(gc.command('show').description('the last collections, newest first').option('--top <n>', 'how many', '10')).action(async (o: { top: string; output?: string }) => {
    const runs = await ApiClient.fromStoredLogin().call<GcRunRecord[]>('GET', `/api/v1/gc/runs?top=${encodeURIComponent(o.top)}`);
    print(outputFormat(o), runs, runColumns);
  });
}

const retentionColumns: Array<[string, (r: RetentionPolicy) => unknown]> = [
  ['STATUS', (r) => r.status],
  ['DAYS', (r) => r.days],
  ['TYPE', (r) => r.type],
];

/** `berth config retention update|show` (az acr config retention), under the existing `config`. */
export function registerRetentionCommands(program: Command): void {
  const config = program.commands.find((c) => c.name() === 'config');
  if (!config) throw new Error('register the config commands first');
  const retention = config.command('retention').description('delete untagged manifests after N days (OCI and Docker alike)');
  withOutput(
    retention
      .command('update')
      .description('set the retention policy (az acr config retention update)')
      .requiredOption('--status <status>', 'enabled or disabled')
      .option('--days <n>', 'days a manifest stays untagged before it is deleted (0: right away), 0-365', '7')
      .option('--type <type>', 'UntaggedManifests', 'UntaggedManifests'),
  ).action(async (o: { status: string; days: string; type: string; output?: string }) => {
    if (o.status !== 'enabled' && o.status !== 'disabled') throw new CliError('--status takes enabled or disabled');
    if (!/^\d+$/.test(o.days) || Number(o.days) > 365) throw new CliError('--days takes a whole number from 0 to 365');
    if (o.type !== 'UntaggedManifests') throw new CliError('--type takes UntaggedManifests');
    const policy = await ApiClient.fromStoredLogin().call<RetentionPolicy>('PUT', '/api/v1/retention', { status: o.status, days: Number(o.days), type: o.type });
    print(outputFormat(o), policy, retentionColumns);
  });
  withOutput(retention.command('show').description('the retention policy')).action(async (o: { output?: string }) => {
    print(outputFormat(o), await ApiClient.fromStoredLogin().call<RetentionPolicy>('GET', '/api/v1/retention'), retentionColumns);
  });
}
