import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { adminCredentials, startBerth, tempDir, type BerthProcess } from '../helpers/berth-process.js';
import { api } from '../helpers/management.js';
import { berthCliAsync } from '../helpers/task-helpers.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Timer triggers on servers without an agent (runs stay queued: what is asserted is exactly what
 * the timers queued). Each occurrence runs once, also with two servers on one database; missed
 * occurrences give one catch-up run.
 */
interface RunView {
  id: string;
  taskName: string;
  trigger: string;
  timerTrigger?: { timerTriggerName: string; scheduleOccurrence: string };
}

describe('timer trigger', () => {
  const servers: BerthProcess[] = [];
  const start = async (dataDir: string) => {
    const server = await startBerth({ dataDir, env: { BERTH_LOCAL_AGENT: 'false' } });
    servers.push(server);
    return server;
  };
  after(async () => {
    await Promise.all(servers.map((s) => s.stop()));
  });
  const runsOf = async (berth: BerthProcess, task: string) =>
    (await api<RunView[]>(berth.url, adminCredentials, 'GET', `/api/v1/runs?task=${task}&top=100`)).body.filter((r) => r.taskName === task);

  it('timers are managed as ACR\'s (add, update, list, remove), and bad schedules are refused', async () => {
    const berth = await start(tempDir('timers-cli'));
    const config = tempDir('timers-cli-config');
    const cli = (args: string[]) => berthCliAsync(config, args);
    assert.equal((await cli(['login', berth.url, '-u', 'admin', '-p', adminCredentials.password])).status, 0);
    const created = await cli(['task', 'create', '-n', 'nightly', '--cmd', 'busybox true', '--context', '/dev/null', '--schedule', '0 2 * * *', '--schedule', 'weekdays:30 6 * * Mon-Fri', '-o', 'json']);
    assert.equal(created.status, 0, created.stderr);
    assert.deepEqual((JSON.parse(created.stdout) as { triggerKinds: string[] }).triggerKinds, ['BASE_IMAGE', 'TIMER']);
    const listed = await cli(['task', 'timer', 'list', '-n', 'nightly', '-o', 'json']);
    assert.deepEqual(JSON.parse(listed.stdout), [
      { name: 't1', schedule: '0 2 * * *', status: 'Enabled' },
      { name: 'weekdays', schedule: '30 6 * * Mon-Fri', status: 'Enabled' },
    ]);
    assert.equal((await cli(['task', 'timer', 'add', '-n', 'nightly', '--timer-name', 'hourly', '--schedule', '0 * * * *'])).status, 0);
    assert.equal((await cli(['task', 'timer', 'update', '-n', 'nightly', '--timer-name', 'hourly', '--enabled', 'false'])).status, 0);
    assert.equal((await cli(['task', 'timer', 'remove', '-n', 'nightly', '--timer-name', 't1'])).status, 0);
    const table = await cli(['task', 'timer', 'list', '-n', 'nightly']);
    assert.match(table.stdout, /hourly\s+0 \* \* \* \*\s+Disabled/);
    assert.doesNotMatch(table.stdout, /\bt1\b/);
    for (const bad of ['* * * *', '*/5 * * * * *', '61 * * * *', 'every day']) {
      const refused = await cli(['task', 'timer', 'add', '-n', 'nightly', '--timer-name', 'bad', '--schedule', bad]);
      assert.notEqual(refused.status, 0, bad);
      assert.match(refused.stderr, /invalid schedule/, bad);
    }
    const work = await api<unknown>(berth.url, adminCredentials, 'GET', '/api/v1/tasks/nightly/timers');
    assert.equal((work.body as unknown[]).length, 2);
  });

  it('two servers on one database run each occurrence once', async () => {
    const dataDir = tempDir('timers-two');
    const a = await start(dataDir);
    const b = await start(dataDir);
    const created = await api(a.url, adminCredentials, 'POST', '/api/v1/tasks', { name: 'every-minute', command: 'busybox true', schedules: ['tick:* * * * *'] });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const runs = await waitFor(async () => {
      const found = await runsOf(a, 'every-minute');
      return found.length >= 1 ? found : null;
    }, { what: 'the first occurrence to run', timeoutMs: 90_000 });
    const occurrence = runs[0]!.timerTrigger!.scheduleOccurrence;
    assert.equal(runs[0]!.trigger, 'Timer');
    assert.equal(runs[0]!.timerTrigger!.timerTriggerName, 'tick');
    assert.match(occurrence, /^\d{4}-\d\d-\d\dT\d\d:\d\d:00\.000Z$/);
    // Both servers poll the same work item every second; give them a few polls past the occurrence.
    await waitFor(async () => Date.now() > Date.parse(occurrence) + 5000, { what: 'five seconds past the occurrence', timeoutMs: 70_000 });
    const all = await runsOf(b, 'every-minute');
    const perOccurrence = new Map<string, number>();
    for (const run of all) perOccurrence.set(run.timerTrigger!.scheduleOccurrence, (perOccurrence.get(run.timerTrigger!.scheduleOccurrence) ?? 0) + 1);
    assert.deepEqual([...perOccurrence.values()].filter((n) => n > 1), [], `one run per occurrence: ${JSON.stringify([...perOccurrence])}`);
    await Promise.all([a.stop(), b.stop()]);
  });

  it('occurrences missed while the server was down give one catch-up run, for the latest of them; a restart then runs nothing twice', async () => {
    const dataDir = tempDir('timers-catch-up');
    let berth = await start(dataDir);
    await api(berth.url, adminCredentials, 'POST', '/api/v1/tasks', { name: 'missed-task', command: 'busybox true', schedules: ['five:*/5 * * * *'] });
    await berth.stop();
    // As if the server had been down for 23 minutes: the timer was due 23 minutes ago.
    const db = new BetterSqlite3(join(dataDir, 'metadata.db'));
    const dueAt = new Date(Date.now() - 23 * 60_000).toISOString();
    const updated = db.prepare("update work_items set run_at = ? where kind = 'timer' and key = 'missed-task/five'").run(dueAt);
    db.close();
    assert.equal(updated.changes, 1, 'the timer is a work item');
    berth = await start(dataDir);
    const runs = await waitFor(async () => {
      const found = await runsOf(berth, 'missed-task');
      return found.length > 0 ? found : null;
    }, { what: 'the catch-up run', timeoutMs: 30_000 });
    const latest = new Date(Math.floor(Date.now() / 300_000) * 300_000).toISOString();
    assert.equal(runs.length, 1);
    assert.equal(runs[0]!.timerTrigger!.scheduleOccurrence, latest, 'the latest missed occurrence');
    // Restarted again: the occurrence has had its run.
    await berth.stop();
    const db2 = new BetterSqlite3(join(dataDir, 'metadata.db'));
    db2.prepare("update work_items set run_at = ? where kind = 'timer' and key = 'missed-task/five'").run(dueAt);
    db2.close();
    berth = await start(dataDir);
    await waitFor(async () => {
      const db3 = new BetterSqlite3(join(dataDir, 'metadata.db'), { readonly: true });
      const row = db3.prepare("select run_at from work_items where kind = 'timer' and key = 'missed-task/five'").get() as { run_at: string };
      db3.close();
      return row.run_at > new Date().toISOString();
    }, { what: 'the restarted server to handle the timer', timeoutMs: 30_000 });
    const after = await runsOf(berth, 'missed-task');
    assert.equal(after.length, Date.now() - Date.parse(latest) >= 300_000 ? 2 : 1, 'no second run for the same occurrence');
  });
});
