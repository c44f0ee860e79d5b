import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { once } from 'node:events';
import { openSqliteDatabase } from '../../src/metadata/sql/sqlite.js';
import { SqlRunStore } from '../../src/metadata/sql/sql-run-store.js';
import { tempDir } from '../helpers/berth-process.js';
import { spawnTracked, stopProcess } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';

const newRun = () => ({
  taskName: null,
  runType: 'QuickRun' as const,
  trigger: 'Manual' as const,
  platform: 'linux',
  spec: { kind: 'cmd' as const, contextId: null, command: 'x' },
  timeoutSeconds: 60,
  requestedBy: 'test',
  createdAt: new Date().toISOString(),
});

describe('run queue', () => {
  it('two agent processes sharing one database never claim the same run', async (t) => {
    const path = join(tempDir('queue'), 'metadata.db');
    const store = new SqlRunStore(await openSqliteDatabase(path));
    const ids: string[] = [];
    for (let i = 0; i < 40; i++) ids.push((await store.createRun(newRun())).id);
    assert.deepEqual(ids.slice(0, 3), ['cb1', 'cb2', 'cb3']);
    // Each agent is its own process with its own connection, as real agents are.
    const script = `
      const { openSqliteDatabase } = await import(${JSON.stringify(new URL('../../src/metadata/sql/sqlite.js', import.meta.url).href)});
      const { SqlRunStore } = await import(${JSON.stringify(new URL('../../src/metadata/sql/sql-run-store.js', import.meta.url).href)});
      const store = new SqlRunStore(await openSqliteDatabase(process.argv[1]));
      // Both start at the same moment, however long each took to start up: each says it is
      // ready, then waits for the go on stdin. Then they work like agents do.
      process.stderr.write('ready\\n');
      await new Promise((r) => process.stdin.once('data', r));
      const claimed = [];
      for (;;) { const run = await store.claimRun(process.argv[2], 30); if (!run) break; claimed.push(run.id); await new Promise((r) => setTimeout(r, 10)); }
      console.log(JSON.stringify(claimed));
    `;
    const agent = (name: string) => {
      const child = spawnTracked(process.execPath, ['--input-type=module', '-e', script, path, name], { stdio: ['pipe', 'pipe', 'pipe'] });
      t.after(() => stopProcess(child));
      let out = '';
      let err = '';
      child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      const result = once(child, 'close').then(([code]) => {
        if (code !== 0) throw new Error(`agent ${name} exited with ${code}: ${err}`);
        return JSON.parse(out) as string[];
      });
      void result.catch(() => undefined); // awaited below; a failed start must not be an unhandled rejection too
      return { name, child, result, ready: () => err.includes('ready\n') };
    };
    const agents = [agent('agent-a'), agent('agent-b')];
    await waitFor(() => agents.every((a) => a.ready()), { what: 'both agent processes to be ready to claim', timeoutMs: 60_000 });
    for (const a of agents) a.child.stdin!.end('go\n');
    const [a, b] = await Promise.all(agents.map((x) => x.result));
    const all = [...a, ...b];
    assert.equal(all.length, 40);
    assert.equal(new Set(all).size, 40, 'each run claimed exactly once');
    assert.ok(a.length > 0 && b.length > 0, `both agents worked (${a.length} / ${b.length})`);
    const records = await Promise.all(ids.map((id) => store.getRun(id)));
    assert.ok(records.every((r) => r?.status === 'Running' && (r.agent === 'agent-a' || r.agent === 'agent-b')));
  });

  it('a run whose agent stops renewing its lease becomes Error', async () => {
    const store = new SqlRunStore(await openSqliteDatabase(join(tempDir('lease'), 'metadata.db')));
    const created = await store.createRun(newRun());
    const claimed = await store.claimRun('agent-gone', 0);
    assert.equal(claimed?.id, created.id);
    // expireLeases compares with "<": wait until the clock has passed the 0-second lease.
    await waitFor(() => new Date().toISOString() > claimed!.leaseUntil!, { what: 'the clock to pass the lease', timeoutMs: 5_000, intervalMs: 5 });
    assert.deepEqual(await store.expireLeases(), [created.id]);
    const run = await store.getRun(created.id);
    assert.equal(run?.status, 'Error');
    assert.match(run?.error ?? '', /lease expired/);
    assert.equal(await store.renewLease(created.id, 'agent-gone', 30), false);
  });

  it('logs of runs that ended before the retention horizon are deleted; the run record stays', async () => {
    const store = new SqlRunStore(await openSqliteDatabase(join(tempDir('retention'), 'metadata.db')));
    const old = await store.createRun(newRun());
    const live = await store.createRun(newRun());
    await store.appendLog(old.id, 'old log');
    await store.appendLog(live.id, 'live log');
    await store.updateRun(old.id, { status: 'Succeeded', finishedAt: new Date(Date.now() - 31 * 86_400_000).toISOString() });
    assert.equal(await store.deleteLogsBefore(new Date(Date.now() - 30 * 86_400_000).toISOString()), 1);
    assert.deepEqual(await store.readLog(old.id, 0), []);
    assert.equal((await store.readLog(live.id, 0))[0]?.text, 'live log');
    assert.equal((await store.getRun(old.id))?.status, 'Succeeded');
  });

  it('canceling a queued run ends it without an agent', async () => {
    const store = new SqlRunStore(await openSqliteDatabase(join(tempDir('cancel'), 'metadata.db')));
    const created = await store.createRun(newRun());
    await store.requestCancel(created.id);
    assert.equal((await store.getRun(created.id))?.status, 'Canceled');
    assert.equal(await store.claimRun('agent', 30), null);
  });
});
