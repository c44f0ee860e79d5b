import { writeFileSync } from 'node:fs';
import { bareWorkloads, makeBenchData, registryWorkloads, type Measurement } from './workloads.js';
import { startBareTarget, startBerthTarget, startDistributionTarget } from './targets.js';

/**
 * `npm run bench`: Berth and CNCF Distribution side by side in one run, plus the machine's bare
 * limit for the blob path. Prints a table of figures and ratios and writes them as JSON.
 * `--quick` shrinks every workload (for a smoke run); `--out FILE` names the JSON file.
 */
const quick = process.argv.includes('--quick');
const outIndex = process.argv.indexOf('--out');
const outFile = outIndex > 0 ? process.argv[outIndex + 1]! : 'bench-results.json';
const onlyIndex = process.argv.indexOf('--only');
/** `--only blob` runs just the workloads whose name contains "blob" (for focused measurements). */
export const only = onlyIndex > 0 ? process.argv[onlyIndex + 1]! : null;

const log = (target: string) => (m: Measurement) =>
  process.stderr.write(`  ${target.padEnd(12)} ${m.workload.padEnd(40)} ${m.value.toFixed(1).padStart(10)} ${m.unit} (${m.seconds.toFixed(2)} s)\n`);

async function main(): Promise<void> {
  const data = makeBenchData(
    quick
      ? { smallCount: 40, largeCount: 1, largeSize: 32 * 1024 * 1024, manifestCount: 200, reads: 1000 }
      : { smallCount: 400, largeCount: 3, largeSize: 256 * 1024 * 1024, manifestCount: 2000, reads: 10000 },
  );
  const basePort = 15000 + Math.floor(Math.random() * 2000);
  const distribution = await startDistributionTarget(basePort);
  const berth = await startBerthTarget(basePort + 1);
  const bare = await startBareTarget(basePort + 2);
  let results: { distribution: Measurement[]; berth: Measurement[]; bare: Measurement[] };
  try {
    process.stderr.write('bare node:http limit\n');
    const bareResults = await bareWorkloads(bare.url, data, log('bare'), only);
    process.stderr.write('CNCF Distribution\n');
    const distributionResults = await registryWorkloads(distribution.url, data, log('distribution'), only);
    process.stderr.write('Berth\n');
    const berthResults = await registryWorkloads(berth.url, data, log('berth'), only);
    results = { distribution: distributionResults, berth: berthResults, bare: bareResults };
  } finally {
    await Promise.all([distribution.stop(), berth.stop(), bare.stop()]);
  }

  const rows = results.berth.map((b, i) => {
    const d = results.distribution[i]!;
    const bareMatch = results.bare.find((x) => x.workload === b.workload);
    return {
      workload: b.workload,
      unit: b.unit,
      berth: round(b.value),
      distribution: round(d.value),
      ratio: round(b.value / d.value, 2),
      ...(bareMatch ? { bare: round(bareMatch.value), berthOfBare: round(b.value / bareMatch.value, 2) } : {}),
    };
  });
  const header = `${'workload'.padEnd(40)} ${'unit'.padEnd(6)} ${'berth'.padStart(10)} ${'distrib.'.padStart(10)} ${'ratio'.padStart(7)} ${'bare'.padStart(9)} ${'of bare'.padStart(8)}`;
  console.log(`\n${header}\n${'-'.repeat(header.length)}`);
  for (const r of rows) {
    console.log(
      `${r.workload.padEnd(40)} ${r.unit.padEnd(6)} ${String(r.berth).padStart(10)} ${String(r.distribution).padStart(10)} ${`${r.ratio}x`.padStart(7)} ${String(r.bare ?? '').padStart(9)} ${r.berthOfBare !== undefined ? `${Math.round(r.berthOfBare * 100)}%`.padStart(8) : ''}`,
    );
  }
  writeFileSync(outFile, JSON.stringify({ date: new Date().toISOString(), quick, rows, raw: results }, null, 2));
  console.log(`\nwritten to ${outFile}`);
}

function round(n: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
