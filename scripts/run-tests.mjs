#!/usr/bin/env node
// Runs every compiled test file with Node's test runner, each file in a `node --test` process of
// its own (BERTH_TEST_CONCURRENCY at a time, default 3), prints each file's spec report as the
// file finishes, a table of files, then one closing line "N passed, N failed" (the runner's own
// TAP counts, read back from a file per test file).
//
// A hung file must become a failure, never a hung run:
// - FILE_TIMEOUT_MS (default 10 min, BERTH_TEST_FILE_TIMEOUT_MS) goes to `node --test` as
//   --test-timeout. Node 20's runner applies it to each test file as a whole (not to each test):
//   when it runs out the runner SIGTERMs the file (the test helpers then kill their servers) and
//   reports the file as cancelled, which counts as failed here. The heaviest files
//   (tasks/task-files, tasks/remote-agents) took 3 min on a 2-core machine shared with other jobs
//   and 5-6.5 min with one more core taken by a busy loop, so 10 min is ~1.5x the worst seen, and
//   a hang costs one lane at most 10 min. Inside a file every wait has its own deadline (waitFor
//   60 s, client commands and CLI runs 5 min, server start 60 s), so most hangs fail sooner.
// - The watchdog: a file still running FILE_TIMEOUT_MS + 60 s after it started (the runner did not
//   end it) gets SIGTERM, then SIGKILL, for its whole process group, and counts as one failure.
// - SUITE_TIMEOUT_MS (default 40 min, BERTH_TEST_SUITE_TIMEOUT_MS): the whole run, which took
//   10.5 min in CI before the trigger and lifecycle suites, and 21 min after them here with a busy
//   loop on one of two cores (three files at a time). Past it, running files are killed and files not started are not started; each
//   counts as one failure. So the run always ends within 40 min, with a count.
// - Every file runs in a process group of its own. Whatever is left in it when the file has ended
//   (a server a test forgot to stop, a grandchild of a killed server) is listed and killed.
import { spawn, execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync, mkdtempSync, existsSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { tmpdir } from 'node:os';

const FILE_TIMEOUT_MS = Number(process.env.BERTH_TEST_FILE_TIMEOUT_MS ?? 10 * 60_000);
const WATCHDOG_GRACE_MS = 60_000;
// A guard against hangs, well above a slow machine's run and inside CI's 90 minutes.
const SUITE_TIMEOUT_MS = Number(process.env.BERTH_TEST_SUITE_TIMEOUT_MS ?? 40 * 60_000);
const KILL_GRACE_MS = 10_000;

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
// Three at a time: most files wait on containers, git, timers and polls far more than they compute.
const concurrency = Math.max(1, Number(process.env.BERTH_TEST_CONCURRENCY ?? '3'));
const reports = mkdtempSync(join(tmpdir(), 'berth-tests-'));
const suiteStarted = Date.now();
const name = (file) => relative(testRoot, file);

/** Processes in process group `pgid`, as "pid args" lines. */
function groupMembers(pgid) {
  try {
    const out = execFileSync('ps', ['-eo', 'pid=,pgid=,args='], { encoding: 'utf8' });
    return out
      .split('\n')
      .map((line) => line.trim().split(/\s+/))
      .filter((parts) => Number(parts[1]) === pgid)
      .map((parts) => `${parts[0]} ${parts.slice(2).join(' ')}`);
  } catch {
    return [];
  }
}

function killGroup(pgid, signal) {
  try {
    process.kill(-pgid, signal);
  } catch {
    // nothing left
  }
}

/** The runner's counts for one file, from its TAP report (null when it has no summary). */
function tapCounts(tapFile) {
  if (!existsSync(tapFile)) return null;
  const tap = readFileSync(tapFile, 'utf8');
  const count = (key) => [...tap.matchAll(new RegExp(`^# ${key} (\\d+)$`, 'gm'))].pop()?.[1];
  if (count('pass') === undefined) return null;
  return { passed: Number(count('pass')), failed: Number(count('fail') ?? 0) + Number(count('cancelled') ?? 0) };
}

const results = [];
const running = new Set();
let suiteExpired = false;

function runFile(file, index) {
  return new Promise((resolve) => {
    const tapFile = join(reports, `${index}.tap`);
    const started = Date.now();
    const child = spawn(
      process.execPath,
      ['--test', `--test-timeout=${FILE_TIMEOUT_MS}`, '--test-reporter=spec', '--test-reporter-destination=stdout',
        '--test-reporter=tap', `--test-reporter-destination=${tapFile}`, file],
      { cwd: root, detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const pgid = child.pid;
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const notes = [];
    let killed = false;
    const kill = (why) => {
      if (killed) return;
      killed = true;
      notes.push(why);
      killGroup(pgid, 'SIGTERM');
      setTimeout(() => killGroup(pgid, 'SIGKILL'), KILL_GRACE_MS).unref();
    };
    const entry = { file, kill, killNow: () => killGroup(pgid, 'SIGKILL') };
    running.add(entry);
    const watchdog = setTimeout(
      () => kill(`killed by the watchdog: still running ${(FILE_TIMEOUT_MS + WATCHDOG_GRACE_MS) / 1000} s after it started`),
      FILE_TIMEOUT_MS + WATCHDOG_GRACE_MS,
    );
    let exitCode = null;
    let finishing = false;
    const finish = async () => {
      if (finishing) return;
      finishing = true;
      clearTimeout(watchdog);
      running.delete(entry);
      // Processes killed as the file ended may take a moment to go; what is still there after 3 s was left behind.
      let leftover = groupMembers(pgid);
      for (let waited = 0; leftover.length > 0 && waited < 3_000; waited += 200) {
        await new Promise((r) => setTimeout(r, 200));
        leftover = groupMembers(pgid);
      }
      if (leftover.length > 0) {
        notes.push(`left ${leftover.length} process(es) running, now killed:\n    ${leftover.join('\n    ')}`);
        killGroup(pgid, 'SIGKILL');
      }
      const counts = tapCounts(tapFile);
      let { passed, failed } = counts ?? { passed: 0, failed: 0 };
      if (!counts) {
        failed += 1;
        notes.push('no test summary (the file was killed or crashed): counted as one failure');
      } else if (killed && failed === 0) {
        failed += 1;
      } else if (exitCode !== 0 && failed === 0) {
        failed += 1;
        notes.push(`exited with ${exitCode} although no test failed: counted as one failure`);
      }
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      // The runner's own summary lines (ℹ tests/pass/...) are per file here; the table below sums them.
      const report = output
        .split('\n')
        .filter((line) => !/^ℹ (tests|suites|pass|fail|cancelled|skipped|todo|duration_ms) [\d.]+$/.test(line))
        .join('\n')
        .trimEnd();
      process.stdout.write(`\n# ${name(file)} (${seconds} s)\n${report}\n${notes.map((n) => `# ${name(file)}: ${n}\n`).join('')}`);
      results.push({ file, passed, failed, seconds, notes });
      resolve();
    };
    let exited = false;
    child.once('exit', (code, signal) => {
      exited = true;
      exitCode = code ?? signal;
      // Output still in the pipes comes before 'close'; a leftover process holding them must not stall us.
      const closeWait = setTimeout(() => void finish(), 5_000);
      child.once('close', () => {
        clearTimeout(closeWait);
        void finish();
      });
    });
    child.once('error', (error) => {
      if (exited) return;
      output += `\ncould not start: ${error.message}\n`;
      exitCode = -1;
      void finish();
    });
  });
}

// Files run in process groups of their own, so a Ctrl-C (or a SIGTERM) here must reach them.
for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]]) {
  process.once(signal, () => {
    for (const entry of running) entry.killNow();
    process.exit(code);
  });
}

const suiteWatchdog = setTimeout(() => {
  suiteExpired = true;
  for (const entry of running) entry.kill(`killed: the whole run exceeded ${SUITE_TIMEOUT_MS / 60_000} min`);
}, SUITE_TIMEOUT_MS);

// Longest first (by the last run's times, kept next to the build; new files count as long), so
// the short files fill the lanes at the end instead of a long one starting last. A fresh clone
// (CI) has no last run: it takes the times of a full run recorded in scripts/test-durations.json.
const timesFile = join(root, 'dist/test-durations.json');
const recordedTimesFile = join(root, 'scripts/test-durations.json');
let lastTimes = {};
for (const file of [timesFile, recordedTimesFile]) {
  try {
    lastTimes = JSON.parse(readFileSync(file, 'utf8'));
    break;
  } catch {
    // no such run
  }
}
const queue = files
  .map((file, index) => ({ file, index, last: lastTimes[name(file)] ?? Infinity }))
  .sort((a, b) => b.last - a.last || a.file.localeCompare(b.file));
const notRun = [];
async function lane() {
  for (;;) {
    const next = queue.shift();
    if (!next) return;
    if (suiteExpired) {
      notRun.push(next.file);
      continue;
    }
    await runFile(next.file, next.index);
  }
}
await Promise.all(Array.from({ length: Math.min(concurrency, files.length) }, () => lane()));
clearTimeout(suiteWatchdog);

for (const file of notRun) results.push({ file, passed: 0, failed: 1, seconds: '-', notes: ['not run: the whole run exceeded its time'] });
results.sort((a, b) => a.file.localeCompare(b.file));
try {
  const times = { ...lastTimes };
  for (const r of results) if (r.seconds !== '-' && r.failed === 0) times[name(r.file)] = Number(r.seconds);
  writeFileSync(timesFile, `${JSON.stringify(times, null, 2)}\n`);
} catch {
  // only an ordering hint
}
const passed = results.reduce((n, r) => n + r.passed, 0);
const failed = results.reduce((n, r) => n + r.failed, 0);
const wall = ((Date.now() - suiteStarted) / 1000).toFixed(1);
console.log(`\n# files (wall time ${wall} s, ${concurrency} at a time, file timeout ${FILE_TIMEOUT_MS / 1000} s)`);
for (const r of results) {
  console.log(`#   ${r.failed ? 'FAIL' : 'ok  '} ${name(r.file).padEnd(48)} ${String(r.passed).padStart(3)} passed ${String(r.failed).padStart(2)} failed ${String(r.seconds).padStart(7)} s`);
}
console.log(`\n${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
