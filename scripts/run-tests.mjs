#!/usr/bin/env node
// Runs every compiled test file with Node's test runner, prints the spec report, then one closing
// line "N passed, N failed" (the runner's own TAP counts, read back from a file).
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';

const root = new URL('..', import.meta.url).pathname;
const testRoot = join(root, 'dist/test');
const filter = process.argv.slice(2);

function findTests(dir) {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return findTests(path);
    return entry.endsWith('.test.js') ? [path] : [];
  });
}

const files = findTests(testRoot)
  .filter((f) => filter.length === 0 || filter.some((pattern) => f.includes(pattern)))
  .sort();
if (files.length === 0) {
  console.error('no test files found');
  process.exit(1);
}
const tapFile = join(mkdtempSync(join(tmpdir(), 'berth-tests-')), 'report.tap');
const concurrency = process.env.BERTH_TEST_CONCURRENCY ?? '2';
const result = spawnSync(
  process.execPath,
  ['--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', '--test-reporter-destination=stdout',
    '--test-reporter=tap', `--test-reporter-destination=${tapFile}`, ...files],
  { stdio: 'inherit', cwd: root },
);
const tap = readFileSync(tapFile, 'utf8');
// The last summary block is the whole run's.
const count = (name) => Number([...tap.matchAll(new RegExp(`^# ${name} (\\d+)$`, 'gm'))].pop()?.[1] ?? 0);
const passed = count('pass');
const failed = count('fail') + count('cancelled');
console.log(`\n${passed} passed, ${failed} failed`);
process.exit(result.status === 0 && failed === 0 ? 0 : 1);
