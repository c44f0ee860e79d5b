import type { Command } from 'commander';
import type { ImportJob } from '../../import/import-store.js';
import { ApiClient, CliError } from '../api-client.js';
import { outputFormat, print, withOutput, type Column } from '../output.js';

const columns: Column<ImportJob>[] = [
  ['ID', (j) => j.id],
  ['SOURCE', (j) => j.source],
  ['TARGETS', (j) => [...j.targetTags, ...j.untaggedRepositories]],
  ['STATUS', (j) => j.status],
  ['DIGEST', (j) => j.result?.digest],
  ['ERROR', (j) => j.error],
];

function mib(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1);
}

function progressLine(job: ImportJob): string {
  const p = job.progress;
  const fraction = p.bytesTotal > 0 ? Math.min(1, p.bytesDone / p.bytesTotal) : job.status === 'succeeded' ? 1 : 0;
  const width = 30;
  const filled = Math.round(fraction * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${mib(p.bytesDone)}/${mib(p.bytesTotal)} MiB, layers ${p.blobsDone}/${p.blobsTotal}, manifests ${p.manifestsDone}/${p.manifestsTotal} ${job.status}`;
}

export function registerImportCommands(program: Command): void {
  withOutput(
    program
      .command('import')
      .description('import an image from any registry into this one (az acr import)')
      .requiredOption('--source <image>', 'registry/repo:tag or registry/repo@digest (http:// for a plain-HTTP registry)')
      .option('-t, --image <repo:tag...>', 'target tags (repeatable)')
      .option('--repository <repo...>', 'import untagged into these repositories')
      .option('-u, --username <name>', 'user for the source registry')
      .option('-p, --password <password>', 'password for the source registry')
      .option('--force', 'overwrite existing target tags')
      .option('--include-referrers', 'also import signatures, SBOMs and other referrers')
      .option('--no-wait', 'return once the job is queued'),
  ).action(
    async (o: { source: string; image?: string[]; repository?: string[]; username?: string; password?: string; force?: boolean; includeReferrers?: boolean; wait: boolean; output?: string }) => {
      const format = outputFormat(o);
      const client = ApiClient.fromStoredLogin();
      let job = await client.call<ImportJob>('POST', '/api/v1/imports', {
        source: o.source,
        targetTags: o.image,
        untaggedRepositories: o.repository,
        force: o.force ?? false,
        includeReferrers: o.includeReferrers ?? false,
        ...(o.username ? { username: o.username, password: o.password ?? '' } : {}),
      });
      const tty = process.stderr.isTTY && format === 'table';
      let last = '';
      while (o.wait && (job.status === 'queued' || job.status === 'running')) {
        const line = progressLine(job);
        if (line !== last) process.stderr.write(tty ? `\r${line}` : `${line}\n`);
        last = line;
        await new Promise((r) => setTimeout(r, 300));
        job = await client.call<ImportJob>('GET', `/api/v1/imports/${job.id}`);
      }
      if (o.wait && format === 'table') process.stderr.write(`${tty ? '\r' : ''}${progressLine(job)}\n`);
      print(format, job, columns);
      if (job.status === 'failed') throw new CliError(`import failed: ${job.error}`);
    },
  );

  const jobs = program.command('import-jobs').description('import jobs and their progress');
  withOutput(jobs.command('list').description('newest first').option('--top <n>', 'at most this many', '20')).action(async (o: { top: string; output?: string }) => {
    print(outputFormat(o), await ApiClient.fromStoredLogin().call<ImportJob[]>('GET', `/api/v1/imports?top=${encodeURIComponent(o.top)}`), columns);
  });
  withOutput(jobs.command('show').description('one job').requiredOption('--id <id>', 'job id')).action(async (o: { id: string; output?: string }) => {
    print(outputFormat(o), await ApiClient.fromStoredLogin().call<ImportJob>('GET', `/api/v1/imports/${encodeURIComponent(o.id)}`), columns);
  });
}
