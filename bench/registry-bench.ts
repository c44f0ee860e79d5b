import { writeFileSync } from 'node:fs';
import { bareWorkloads, makeBenchData, registryWorkloads, wanted, warmUp, workloadNames, type Measurement } from './workloads.js';
import { berthCredentials, startBareTarget, startBerthTarget, startDistributionTarget, type Target } from './targets.js';
import type { ClientAuth } from './http-client.js';
import { triggerBench, type TriggerFigures } from './trigger-bench.js';
import { lifecycleBench, lifecycleOptions, printLifecycle, type LifecycleFigures } from './lifecycle-bench.js';
import { readFileSync } from 'node:fs';

/**
 * `npm run bench`: Berth and CNCF Distribution side by side in one run, plus the machine's bare
 * limits for the blob path. Every round runs all workloads against each target in turn (the
 * order rotates from round to round); the table shows medians. Writes everything as JSON.
 *
 * --quick          shrink every workload (a smoke run)
 * --only TEXT      only the workloads whose name contains TEXT ('A|B': either)
 * --rounds N       rounds of interleaved runs (default 3; 1 with --quick)
 * --berth-auth M   token (default: the Docker token flow, as clients do), basic, or none
 * --out FILE       the JSON file (default bench-results.json)
 * --only triggers  only the trigger figures (Berth alone: push → queued latency, upstream polls)
 * --only lifecycle only the lifecycle figures (Berth alone: GC of 100,000 blobs with 1% garbage,
 *                  purge dry run over 10,000 tags), then the pull workloads (pull statistics on)
 *                  against Distribution; sizes: --gc-blobs N, --gc-garbage FRACTION,
 *                  --gc-blob-bytes N, --purge-tags N, --purge-repositories N, --purge-repeats N
 *                  (or BENCH_GC_BLOBS, BENCH_GC_GARBAGE, ... in the environment)
 */
const argument = (name: string): string | null => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1]! : null;
};
const quick = process.argv.includes('--quick');
const outFile = argument('--out') ?? 'bench-results.json';
const only = argument('--only');
const lifecycleOnly = only !== null && 'lifecycle'.includes(only);
/** The pull path with pull statistics on (issue #12): what `--only lifecycle` compares with Distribution. */
const pullWorkloads = [workloadNames.pullSmall, 'manifest GET by tag'];
const selected: string[] | null = lifecycleOnly ? pullWorkloads : only ? only.split('|') : null;
const rounds = Number(argument('--rounds') ?? (quick ? 1 : 3));
const berthAuthMode = argument('--berth-auth') ?? 'token';
if (!['token', 'basic', 'none'].includes(berthAuthMode)) throw new Error(`--berth-auth: token, basic or none, not ${berthAuthMode}`);
const berthAuth: ClientAuth = berthAuthMode === 'none' ? { mode: 'none' } : { mode: berthAuthMode as 'token' | 'basic', ...berthCredentials };

const log = (target: string, round: number) => (m: Measurement) =>
  process.stderr.write(`  ${`${target} #${round + 1}`.padEnd(16)} ${m.workload.padEnd(46)} ${m.value.toFixed(1).padStart(10)} ${m.unit} (${m.seconds.toFixed(2)} s)\n`);

type TargetName = 'bare' | 'distribution' | 'berth';

async function main(): Promise<void> {
  const triggers = !only || 'triggers'.includes(only) ? await runTriggerBench() : null;
  if (only && 'triggers'.includes(only)) {
    writeFileSync(outFile, JSON.stringify({ date: new Date().toISOString(), quick, triggers }, null, 2));
    return;
  }
  const lifecycle = !only || lifecycleOnly ? await runLifecycleBench() : null;
  const sizes = quick
    ? { smallCount: 40, largeCount: 2, largeSize: 32 * 1024 * 1024, manifestCount: 200, reads: 1000 }
    : { smallCount: 400, largeCount: 4, largeSize: 256 * 1024 * 1024, manifestCount: 2000, reads: 10000 };
  const largeMiB = sizes.largeSize / (1024 * 1024);
  const needsLarge = wanted(selected, workloadNames.pushLarge(largeMiB, sizes.largeCount), workloadNames.pullLarge(largeMiB, sizes.largeCount));
  // No large workload selected (the lifecycle section's pulls, say): no large blobs to allocate.
  const data = makeBenchData({ ...sizes, ...(needsLarge ? {} : { largeCount: 1, largeSize: 1024 * 1024 }) });
  const basePort = 15000 + Math.floor(Math.random() * 2000);
  const targets: Record<TargetName, Target> = {
    distribution: await startDistributionTarget(basePort),
    berth: await startBerthTarget(basePort + 1, berthAuthMode !== 'none'),
    bare: await startBareTarget(basePort + 2),
  };
  process.stderr.write(`pids: berth ${targets.berth.pid}, distribution ${targets.distribution.pid}, bare ${targets.bare.pid}; berth auth: ${berthAuthMode}\n`);
  const runs: Record<TargetName, Measurement[][]> = { bare: [], distribution: [], berth: [] };
  try {
    for (const name of ['bare', 'distribution', 'berth'] as const) {
      process.stderr.write(`warm-up: ${name}\n`);
      await warmUp(targets[name].url, name === 'bare' ? 'bare' : 'registry', name === 'berth' ? berthAuth : { mode: 'none' });
    }
    for (let round = 0; round < rounds; round++) {
      if (round > 0) data.prepare(round);
      const order: TargetName[] = ['bare', 'distribution', 'berth'];
      for (let i = 0; i < round % order.length; i++) order.push(order.shift()!);
      for (const name of order) {
        process.stderr.write(`round ${round + 1}/${rounds}: ${name}\n`);
        const url = targets[name].url;
        runs[name].push(
          name === 'bare'
            ? await bareWorkloads(url, data, log(name, round), selected, targets[name].pid)
            : await registryWorkloads(url, data, log(name, round), selected, name === 'berth' ? berthAuth : { mode: 'none' }, targets[name].pid),
        );
      }
    }
  } finally {
    await Promise.all(Object.values(targets).map((t) => t.stop()));
  }

  const values = (name: TargetName, workload: string): number[] =>
    runs[name].map((round) => round.find((m) => m.workload === workload)?.value).filter((v): v is number => v !== undefined);
  // Server CPU milliseconds per unit of work (per MiB or per request), median over rounds.
  const cpuPerUnit = (name: TargetName, workload: string): number | undefined => {
    const perUnit = runs[name]
      .map((round) => round.find((m) => m.workload === workload))
      .filter((m): m is Measurement & { serverCpuSeconds: number } => m?.serverCpuSeconds !== undefined)
      .map((m) => (m.serverCpuSeconds * 1000) / (m.value * m.seconds));
    return perUnit.length > 0 ? round(median(perUnit), 3) : undefined;
  };
  const rows = runs.berth[0]!.map(({ workload, unit }) => {
    const berth = values('berth', workload);
    const distribution = values('distribution', workload);
    const bare = values('bare', workload);
    const cpuMs = { berth: cpuPerUnit('berth', workload), distribution: cpuPerUnit('distribution', workload), bare: cpuPerUnit('bare', workload) };
    return {
      cpuMsPerUnit: cpuMs,
      workload,
      unit,
      berth: round(median(berth)),
      distribution: round(median(distribution)),
      ratio: round(median(berth) / median(distribution), 2),
      ...(bare.length > 0 ? { bare: round(median(bare)), berthOfBare: round(median(berth) / median(bare), 2) } : {}),
      runs: { berth: berth.map((v) => round(v)), distribution: distribution.map((v) => round(v)), bare: bare.map((v) => round(v)) },
    };
  });
  const header = `${'workload (medians)'.padEnd(46)} ${'unit'.padEnd(6)} ${'berth'.padStart(9)} ${'distrib.'.padStart(9)} ${'ratio'.padStart(6)} ${'bare'.padStart(9)} ${'of bare'.padStart(7)}  berth runs`;
  console.log(`\nberth auth: ${berthAuthMode}; ${rounds} round(s)\n${header}\n${'-'.repeat(header.length)}`);
  for (const r of rows) {
    console.log(
      `${r.workload.padEnd(46)} ${r.unit.padEnd(6)} ${String(r.berth).padStart(9)} ${String(r.distribution).padStart(9)} ${`${r.ratio}x`.padStart(6)} ${String(r.bare ?? '').padStart(9)} ${(r.berthOfBare !== undefined ? `${Math.round(r.berthOfBare * 100)}%` : '').padStart(7)}  ${r.runs.berth.join(', ')}`,
    );
  }
  console.log(`\nserver CPU (user + system) per unit of work, ms (medians)\n${'workload'.padEnd(46)} ${'per'.padEnd(8)} ${'berth'.padStart(8)} ${'distrib.'.padStart(8)} ${'bare'.padStart(8)}`);
  for (const r of rows) {
    const cell = (v: number | undefined): string => (v === undefined ? '' : v.toFixed(3)).padStart(8);
    console.log(`${r.workload.padEnd(46)} ${r.unit.replace('/s', '').padEnd(8)} ${cell(r.cpuMsPerUnit.berth)} ${cell(r.cpuMsPerUnit.distribution)} ${cell(r.cpuMsPerUnit.bare)}`);
  }
  if (triggers) printTriggers(triggers);
  if (lifecycle) printLifecycle(lifecycle);
  const pullPath = rows.some((r) => pullWorkloads.some((w) => r.workload.startsWith(w))) ? printPullPath(rows) : null;
  writeFileSync(outFile, JSON.stringify({ date: new Date().toISOString(), quick, rounds, berthAuth: berthAuthMode, rows, triggers, lifecycle, pullPath, raw: runs }, null, 2));
  console.log(`\nwritten to ${outFile}`);
}

async function runTriggerBench(): Promise<TriggerFigures> {
  process.stderr.write('triggers: push → queued (100 tasks, 5 dependent), upstream polls (100 tasks, 10 bases)\n');
  const figures = await triggerBench(17500 + Math.floor(Math.random() * 1000), quick);
  printTriggers(figures);
  return figures;
}

async function runLifecycleBench(): Promise<LifecycleFigures> {
  const options = lifecycleOptions(quick, argument);
  process.stderr.write(`lifecycle: gc over ${options.gcBlobs} blobs (${options.gcGarbageFraction * 100}% garbage), purge dry run over ${options.purgeTags} tags\n`);
  const figures = await lifecycleBench(18500 + Math.floor(Math.random() * 1000), options, (line) => process.stderr.write(`  ${line}\n`));
  printLifecycle(figures);
  return figures;
}

/**
 * The pull path with pull statistics on (they cannot be turned off): this run's ratios next to
 * bench/last-run.json's, the last full run recorded before pull statistics existed (Berth with
 * --auth none then: compare with a `--berth-auth none` run).
 */
function printPullPath(rows: Array<{ workload: string; ratio: number; berth: number; distribution: number }>) {
  let previous: Array<{ workload: string; ratio: number }> = [];
  let previousDate = '';
  try {
    const last = JSON.parse(readFileSync(new URL('../../bench/last-run.json', import.meta.url), 'utf8')) as { date: string; rows: Array<{ workload: string; ratio: number }> };
    previous = last.rows;
    previousDate = last.date.slice(0, 10);
  } catch {
    // not in a checkout: no previous figures
  }
  const pull = rows
    .filter((r) => pullWorkloads.some((w) => r.workload.startsWith(w)))
    .map((r) => ({ workload: r.workload, berth: r.berth, distribution: r.distribution, ratio: r.ratio, previousRatio: previous.find((p) => p.workload === r.workload)?.ratio ?? null }));
  console.log(`\npull path with pull statistics on (berth auth: ${berthAuthMode}); previous: bench/last-run.json ${previousDate} (before pull statistics, berth auth none)`);
  for (const p of pull) console.log(`  ${p.workload.padEnd(46)} ${`${p.ratio}x`.padStart(6)} Distribution${p.previousRatio !== null ? `, previously ${p.previousRatio}x` : ''}`);
  return { berthAuth: berthAuthMode, previous: previousDate, rows: pull };
}

function printTriggers(t: TriggerFigures): void {
  const q = t.pushToQueuedMs;
  const p = t.upstreamPolls;
  console.log(`\ntriggers (Berth only)\n  push -> 5 runs queued, 100 tasks: p50 ${q.p50} ms, p99 ${q.p99} ms, max ${q.max} ms over ${q.pushes} pushes`);
  console.log(`  upstream polls, ${p.tasks} tasks on ${p.images} bases, every ${p.intervalSeconds} s: ${p.manifestHeadsPerInterval} manifest HEADs and ${p.tokenRequestsPerInterval} token requests per interval; ${p.manifestGets} manifest GETs`);
}

function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function round(n: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
