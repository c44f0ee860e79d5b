import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import BetterSqlite3 from 'better-sqlite3';
import { join } from 'node:path';
import { adminCredentials, cliPath, startBerth, tempDir, type BerthProcess } from '../helpers/berth-process.js';
import { run } from '../helpers/commands.js';
import { berthCliAsync, leftovers, publishBaseImage, removeAgentLeftovers, runLog, runRecord as taskRunRecord, waitForRun } from '../helpers/task-helpers.js';
import { runProcess, type CleanupScope } from '../helpers/processes.js';
import { startAgentProcess, type AgentProcess } from '../helpers/agent-process.js';
import { pause, waitFor as waitUntil } from '../helpers/wait.js';

const agentKey = 'remote-agent-key-for-the-tests';
const configDir = tempDir('remote-agents-cli');
process.env.DOCKER_CONFIG = join(tempDir('remote-agents-docker'), 'docker');
let berth: BerthProcess;


/** `berth agent` for this file's server and key. */
const startAgent = (name: string, t: CleanupScope, extraArgs: string[] = []) => startAgentProcess({ server: berth, key: agentKey, name, t, extraArgs });

const cli = (args: string[], input?: string) => berthCliAsync(configDir, args, input);
const runRecord = (id: string) => taskRunRecord(berth, id);
const waitFor = (id: string, statuses: string[], timeoutMs?: number) => waitForRun(berth, id, statuses, timeoutMs);

before(async () => {
  // No agent inside the server: whatever runs, a remote agent ran it.
  berth = await startBerth({ args: ['--no-local-agent'], env: { BERTH_AGENT_KEY: agentKey, BERTH_RUN_LEASE_SECONDS: '4' } });
  await publishBaseImage(berth);
  assert.equal((await cli(['login', berth.url, '-u', 'admin', '-p', adminCredentials.password])).status, 0);
});
after(async () => {
  await berth?.stop();
});

describe('remote agents (berth agent --server URL)', () => {
  it('refuses agents without the key, with a wrong key, and runs that are not theirs', async () => {
    const claim = (authorization?: string) =>
      fetch(`${berth.url}/api/v1/agent/intruder/claim`, { method: 'POST', headers: authorization ? { Authorization: authorization } : {} });
    for (const response of [await claim(), await claim('Bearer not-the-agent-key-at-all'), await claim(`Basic ${Buffer.from(`admin:${adminCredentials.password}`).toString('base64')}`)]) {
      assert.equal(response.status, 401);
      assert.equal(((await response.json()) as { errors: Array<{ code: string }> }).errors[0]!.code, 'UNAUTHORIZED');
    }
    const { status: code, stderr } = await runProcess(process.execPath, [cliPath, 'agent', '--server', berth.url], { env: { ...process.env, BERTH_AGENT_KEY: 'a-wrong-key-of-some-length' }, timeoutMs: 60_000 });
    assert.equal(code, 1);
    assert.match(stderr, /cannot serve .*401 a valid agent key is required/);

    // A key holder still cannot read a run it does not hold (a queued run here: no agent has it).
    const queued = await cli(['run', '--cmd', 'berth-fixture/busybox:1 true', '--no-wait', '/dev/null']);
    const id = /(cb\d+)/.exec(queued.stdout)![1]!;
    const secret = await fetch(`${berth.url}/api/v1/agent/intruder/runs/${id}/secrets/anything`, { headers: { Authorization: `Bearer ${agentKey}` } });
    assert.equal(secret.status, 403);
    assert.match(await secret.text(), /not held by agent intruder/);
    assert.equal((await cli(['task', 'cancel-run', '--run-id', id])).status, 0);
  });

  it('a remote agent executes a quick build and a task file with a stored secret; the server records and masks', async (t) => {
    const agent = await startAgent('remote-a', t);
    try {
      const context = tempDir('remote-build');
      writeFileSync(join(context, 'Dockerfile'), `FROM ${berth.host}/base/busybox:1\nARG WHO\nRUN echo "built by $WHO" > /who\nCMD ["cat", "/who"]\n`);
      const build = await cli(['build', '-t', 'remote/app:{{.Run.ID}}', '--build-arg', 'WHO=remote', context]);
      assert.equal(build.status, 0, build.stderr + build.stdout);
      assert.match(build.stdout, /started on remote-a/);
      const id = /Queued a run with ID: (cb\d+)/.exec(build.stdout)![1]!;
      const record = await runRecord(id);
      assert.equal(record.status, 'Succeeded');
      assert.equal(record.agent, 'remote-a');
      assert.deepEqual(record.outputImages.map((i) => `${i.repository}:${i.tag}`), [`remote/app:${id}`]);
      await run('docker', ['pull', `${berth.host}/remote/app:${id}`]);
      assert.equal((await run('docker', ['run', '--rm', '--network', 'none', `${berth.host}/remote/app:${id}`])).trim(), 'built by remote');

      assert.equal((await cli(['secret', 'set', '-n', 'remote-token', '--value-stdin'], 'remote-7f3a-secret-value\n')).status, 0);
      const folder = tempDir('remote-task');
      writeFileSync(
        join(folder, 'acr-task.yaml'),
        `version: v1.1.0
secrets:
  - id: token
    keyvault: https://vault.example/secrets/remote-token
steps:
  - cmd: berth-fixture/busybox:1 sh -c "echo token={{.Secrets.token}} set=$S run={{.Run.ID}} registry={{.Run.Registry}}"
    env: ["S={{.Values.extra}}"]
`,
      );
      const result = await cli(['run', '-f', 'acr-task.yaml', '--set-secret', 'extra=remote-set-secret-99', folder]);
      assert.equal(result.status, 0, result.stderr + result.stdout);
      assert.match(result.stdout, /token=\*\*\* set=\*\*\* run=cb\d+ registry=127\.0\.0\.1:\d+/);
      assert.ok(!result.stdout.includes('remote-7f3a-secret-value') && !result.stdout.includes('remote-set-secret-99'));
      const log = await cli(['task', 'logs', '--run-id', /Queued a run with ID: (cb\d+)/.exec(result.stdout)![1]!]);
      assert.ok(!log.stdout.includes('remote-7f3a-secret-value') && !log.stdout.includes('remote-set-secret-99'));
    } finally {
      await agent.stop();
    }
    assert.equal(await leftovers(berth), '');
  });

  it('two remote agents share the queue and never execute a run twice', async (t) => {
    const agents = [await startAgent('remote-b', t), await startAgent('remote-c', t)];
    try {
      const ids: string[] = [];
      for (let i = 0; i < 6; i++) {
        const queued = await cli(['run', '--cmd', `berth-fixture/busybox:1 sh -c "sleep 1; echo job-${i}"`, '--no-wait', '/dev/null']);
        assert.equal(queued.status, 0, queued.stderr);
        ids.push(/(cb\d+)/.exec(queued.stdout)![1]!);
      }
      const records = await Promise.all(ids.map((id) => waitFor(id, ['Succeeded', 'Failed', 'Error'])));
      assert.deepEqual(records.map((r) => r.status), Array(6).fill('Succeeded'));
      const byAgent = new Set(records.map((r) => r.agent));
      assert.deepEqual([...byAgent].sort(), ['remote-b', 'remote-c'], 'both agents took work');
      for (const id of ids) {
        const log = (await cli(['task', 'logs', '--run-id', id])).stdout;
        assert.equal(log.match(/started on remote-/g)?.length, 1, `run ${id} started once:\n${log}`);
      }
    } finally {
      await Promise.all(agents.map((a) => a.stop()));
    }
  });

  it('an agent killed mid-run: the server ends the run as Error, and the restarted agent clears what it left', async (t) => {
    // The `sleep 120` container must not outlive a failed test (the restarted agent removes it when all goes well).
    t.after(() => removeAgentLeftovers('remote-d'));
    const agent = await startAgent('remote-d', t);
    const queued = await cli(['run', '--cmd', 'berth-fixture/busybox:1 sleep 120', '--no-wait', '/dev/null']);
    const id = /(cb\d+)/.exec(queued.stdout)![1]!;
    await waitFor(id, ['Running']);
    await waitUntil(async () => (await run('docker', ['ps', '-q', '--filter', 'label=berth.agent=remote-d'])).trim() !== '', {
      what: 'the step container of remote-d to start',
      intervalMs: 250,
    });
    await agent.stop('SIGKILL');
    const ended = await waitFor(id, ['Error'], 30_000);
    assert.match(ended.error ?? '', /lease expired/);
    assert.notEqual(await leftovers(berth), '', 'the killed agent left its container behind');

    const restarted = await startAgent('remote-d', t);
    try {
      assert.match(restarted.output(), /removed containers, networks and volumes left by an earlier life/);
      assert.equal(await leftovers(berth), '');
    } finally {
      await restarted.stop();
    }
  });

  it('runs wait for an agent that serves their platform; a foreign-platform build records that platform', async (t) => {
    const native = await startAgent('remote-native', t);
    const context = tempDir('platform-build');
    writeFileSync(join(context, 'Dockerfile'), 'FROM scratch\nCOPY hello.txt /hello.txt\n');
    writeFileSync(join(context, 'hello.txt'), 'hello\n');
    let arm: AgentProcess | null = null;
    try {
      const queued = await cli(['build', '--platform', 'linux/arm64', '-t', 'multi/app:{{.Run.OS}}-{{.Run.Architecture}}', '--no-wait', context]);
      assert.equal(queued.status, 0, queued.stderr);
      const id = /(cb\d+)/.exec(queued.stdout)![1]!;
      await pause(3000, 'a window in which the amd64-only agent, polling for work, must leave the run alone');
      assert.equal((await runRecord(id)).status, 'Queued', 'the amd64-only agent leaves it alone');
      // The log so far (task logs would follow the queued run until it ends).
      const waiting = await runLog(berth, id);
      assert.match(waiting, /Waiting for an agent that runs linux\/arm64: none has asked for work in the last 5 minutes \(agents run linux\/amd64\)/);

      arm = await startAgent('remote-arm', t, ['--platform', 'linux/arm64']);
      const done = await waitFor(id, ['Succeeded', 'Failed', 'Error']);
      assert.equal(done.status, 'Succeeded', done.error ?? '');
      assert.equal(done.agent, 'remote-arm');
      const auth = { Authorization: `Basic ${Buffer.from(`admin:${adminCredentials.password}`).toString('base64')}` };
      const manifest = (await (await fetch(`${berth.url}/v2/multi/app/manifests/linux-arm64`, { headers: { ...auth, Accept: 'application/vnd.docker.distribution.manifest.v2+json' } })).json()) as { config: { digest: string } };
      const config = (await (await fetch(`${berth.url}/v2/multi/app/blobs/${manifest.config.digest}`, { headers: auth })).json()) as { architecture: string; os: string };
      assert.equal(`${config.os}/${config.architecture}`, 'linux/arm64');
      const listed = await cli(['task', 'list-runs', '--top', '50']);
      assert.match(listed.stdout, new RegExp(`${id}\\s+\\S*\\s+linux/arm64\\s+Succeeded`));
    } finally {
      await native.stop();
      await arm?.stop();
    }
    const bad = await cli(['build', '--platform', 'beos/ppc/x', '-t', 'x:1', context]);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /invalid platform "beos\/ppc\/x"/);
  });

  it('a queued run keeps its secret values, sealed, across a server restart', async (t) => {
    const folder = tempDir('queued-secret');
    writeFileSync(join(folder, 'acr-task.yaml'), 'version: v1.1.0\nsteps:\n  - cmd: berth-fixture/busybox:1 sh -c "echo value={{.Values.pin}} len=${#P}"\n    env: ["P={{.Values.pin}}"]\n');
    const queued = await cli(['run', '-f', 'acr-task.yaml', '--set-secret', 'pin=queued-secret-4711', '--no-wait', folder]);
    assert.equal(queued.status, 0, queued.stderr);
    const id = /(cb\d+)/.exec(queued.stdout)![1]!;
    const db = new BetterSqlite3(join(berth.dataDir, 'metadata.db'), { readonly: true });
    const sealed = (db.prepare('select sealed from run_secrets where run_id = ?').get(id) as { sealed: string }).sealed;
    db.close();
    assert.ok(sealed.startsWith('v1:') && !sealed.includes('queued-secret-4711'), 'sealed at rest');

    await berth.stop();
    berth = await startBerth({ dataDir: berth.dataDir, args: ['--no-local-agent'], env: { BERTH_AGENT_KEY: agentKey, BERTH_RUN_LEASE_SECONDS: '4' } });
    const agent = await startAgent('remote-after-restart', t);
    try {
      const done = await waitFor(id, ['Succeeded', 'Failed', 'Error']);
      assert.equal(done.status, 'Succeeded', done.error ?? '');
      const log = await runLog(berth, id);
      assert.match(log, /value=\*\*\* len=18/);
      assert.ok(!log.includes('queued-secret-4711'));
    } finally {
      await agent.stop();
    }
    const after = new BetterSqlite3(join(berth.dataDir, 'metadata.db'), { readonly: true });
    assert.equal((after.prepare('select count(*) as n from run_secrets').get() as { n: number }).n, 0, 'handed over once, then gone');
    after.close();
  });
});
