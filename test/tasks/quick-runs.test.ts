import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { adminCredentials, startBerth, tempDir, type BerthProcess } from '../helpers/berth-process.js';
import { run } from '../helpers/commands.js';
import { api } from '../helpers/management.js';
import { berthCliAsync, leftovers, publishBaseImage, runRecord as taskRunRecord, waitForRun, type RunView } from '../helpers/task-helpers.js';
import { waitFor } from '../helpers/wait.js';

let berth: BerthProcess;
const configDir = tempDir('tasks-cli');
process.env.DOCKER_CONFIG = join(tempDir('tasks-docker'), 'docker');


function berthCli(args: string[], input?: string) {
  return berthCliAsync(configDir, args, input);
}

const runRecord = (id: string) => taskRunRecord(berth, id);
const waitForStatus = (id: string, statuses: string[], timeoutMs?: number) => waitForRun(berth, id, statuses, timeoutMs);


before(async () => {
  berth = await startBerth();
  await publishBaseImage(berth);
  const login = await berthCli(['login', berth.url, '-u', 'admin', '-p', adminCredentials.password]);
  assert.equal(login.status, 0, login.stderr);
});
after(async () => {
  await berth?.stop();
});

describe('quick build (berth build)', () => {
  it('builds a Dockerfile with ARG, RUN and COPY, honours .dockerignore, pushes and records the image', async () => {
    const context = tempDir('build-context');
    writeFileSync(
      join(context, 'Dockerfile'),
      'ARG BASE\nFROM ${BASE}\nARG GREETING=hi\nRUN echo "$GREETING" > /greeting\nCOPY app.txt /app.txt\nCOPY . /ctx/\nCMD ["cat", "/greeting"]\n',
    );
    writeFileSync(join(context, 'app.txt'), 'app\n');
    writeFileSync(join(context, 'ignored.txt'), 'must not be sent\n');
    writeFileSync(join(context, '.dockerignore'), 'ignored.txt\n');
    mkdirSync(join(context, '.git'));
    writeFileSync(join(context, '.git', 'HEAD'), 'ref: refs/heads/main\n');
    const result = await berthCli([
      'build', '-t', 'demo/app:{{.Run.ID}}', '-t', 'demo/app:latest',
      '--build-arg', `BASE=${berth.host}/base/busybox:1`, '--build-arg', 'GREETING=hello-from-build', context,
    ]);
    assert.equal(result.status, 0, result.stderr + result.stdout);
    assert.match(result.stdout, /Step 4\/7 : RUN echo "\$GREETING" > \/greeting/);
    const id = /Queued a run with ID: (cb\d+)/.exec(result.stdout)![1]!;
    assert.match(result.stdout, new RegExp(`Run ID: ${id} was successful`));
    const record = await runRecord(id);
    assert.equal(record.status, 'Succeeded');
    assert.deepEqual(record.outputImages.map((i) => `${i.repository}:${i.tag}`), [`demo/app:${id}`, 'demo/app:latest']);
    assert.match(record.outputImages[0]!.digest, /^sha256:/);
    assert.deepEqual(record.steps.map((s) => `${s.id}:${s.status}`), ['build:Succeeded', 'push:Succeeded']);

    const pulled = `${berth.host}/demo/app:${id}`;
    await run('docker', ['pull', pulled]);
    assert.equal((await run('docker', ['run', '--rm', '--network', 'none', pulled])).trim(), 'hello-from-build');
    const files = (await run('docker', ['run', '--rm', '--network', 'none', pulled, 'ls', '-a', '/ctx'])).split('\n');
    assert.ok(files.includes('app.txt'));
    assert.ok(!files.includes('ignored.txt'), '.dockerignore honoured');
    assert.ok(!files.includes('.git'), '.git left out');
    await run('docker', ['rmi', pulled]);

    assert.equal(await leftovers(berth), '', 'no container, network or volume left behind');
    const tokens = await api<Array<{ name: string }>>(berth.url, adminCredentials, 'GET', '/api/v1/tokens');
    assert.ok(!tokens.body.some((t) => t.name.startsWith('berth-run-')), 'the run token is revoked');
  });

  it('secret build args never show in the log', async () => {
    const context = tempDir('secret-context');
    writeFileSync(join(context, 'Dockerfile'), `FROM ${berth.host}/base/busybox:1\nARG TOKEN\nRUN echo "token is $TOKEN"\n`);
    const result = await berthCli(['build', '--no-push', '--secret-build-arg', 'TOKEN=s3cr3t-value-123', context]);
    assert.equal(result.status, 0, result.stderr + result.stdout);
    assert.match(result.stdout, /token is \*\*\*/);
    const id = /Queued a run with ID: (cb\d+)/.exec(result.stdout)![1]!;
    const stored = await fetch(`${berth.url}/api/v1/runs/${id}/logs`, { headers: { Authorization: `Basic ${Buffer.from(`admin:${adminCredentials.password}`).toString('base64')}` } });
    const log = await stored.text();
    assert.match(log, /token is \*\*\*/);
    assert.ok(!log.includes('s3cr3t-value-123'));
    assert.ok(!JSON.stringify(await runRecord(id)).includes('s3cr3t-value-123'));
  });

  it('a failing build fails the CLI with the run status', async () => {
    const context = tempDir('failing-context');
    writeFileSync(join(context, 'Dockerfile'), `FROM ${berth.host}/base/busybox:1\nRUN exit 7\n`);
    const result = await berthCli(['build', '-t', 'demo/broken:1', context]);
    assert.equal(result.status, 1);
    assert.match(result.stderr, /run cb\d+ Failed/);
    assert.equal(await leftovers(berth), '');
  });
});

describe('quick run (berth run --cmd)', () => {
  it("the CLI's exit code is the run's result; templates render", async () => {
    const ok = await berthCli(['run', '--cmd', 'berth-fixture/busybox:1 echo run={{.Run.ID}}', '/dev/null']);
    assert.equal(ok.status, 0, ok.stderr);
    const id = /Queued a run with ID: (cb\d+)/.exec(ok.stdout)![1]!;
    assert.match(ok.stdout, new RegExp(`run=${id}\\n`));
    const failed = await berthCli(['run', '--cmd', 'berth-fixture/busybox:1 sh -c "echo going down; exit 3"', '/dev/null']);
    assert.equal(failed.status, 1);
    assert.match(failed.stdout, /going down/);
    assert.match(failed.stderr, /Failed: the command exited with 3/);
  });

  it('a local context is mounted at /workspace', async () => {
    const context = tempDir('run-context');
    writeFileSync(join(context, 'hello.txt'), 'from the context\n');
    const result = await berthCli(['run', '--cmd', 'berth-fixture/busybox:1 cat hello.txt', context]);
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /from the context/);
  });

  it('cancel-run stops the container at once and leaves nothing behind', async () => {
    const queued = await berthCli(['run', '--cmd', 'berth-fixture/busybox:1 sleep 60', '/dev/null', '--no-wait', '-o', 'json']);
    const id = (JSON.parse(queued.stdout) as RunView).id;
    await waitForStatus(id, ['Running']);
    // Cancel once the step's container is really running, not merely the run.
    await waitFor(async () => (await run('docker', ['ps', '-q', '--filter', `label=berth.run=${id}`, '--filter', 'status=running'])).trim(), {
      what: `the container of run ${id} to be running`,
    });
    const cancel = await berthCli(['task', 'cancel-run', '--run-id', id]);
    assert.equal(cancel.status, 0, cancel.stderr);
    const done = await waitForStatus(id, ['Canceled', 'Failed', 'Succeeded'], 15_000);
    assert.equal(done.status, 'Canceled');
    assert.equal(await leftovers(berth), '');
  });

  it('a run that exceeds --timeout ends as Timeout with nothing left behind', async () => {
    const result = await berthCli(['run', '--cmd', 'berth-fixture/busybox:1 sleep 60', '/dev/null', '--timeout', '3']);
    assert.equal(result.status, 1);
    assert.match(result.stderr, /Timeout/);
    assert.equal(await leftovers(berth), '');
  });

  it('list-runs shows ACR columns and filters by status', async () => {
    const table = await berthCli(['task', 'list-runs', '--top', '50']);
    assert.match(table.stdout.split('\n')[0]!, /^RUN ID\s+TASK\s+PLATFORM\s+STATUS\s+TRIGGER\s+STARTED\s+DURATION$/);
    assert.match(table.stdout, /cb\d+\s+linux\/amd64\s+(Succeeded|Failed|Canceled|Timeout)\s+Manual\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\s+\d\d:\d\d:\d\d/);
    const failed = JSON.parse((await berthCli(['task', 'list-runs', '--run-status', 'Failed', '-o', 'json'])).stdout) as RunView[];
    assert.ok(failed.length >= 2 && failed.every((r) => r.status === 'Failed'));
    const show = JSON.parse((await berthCli(['task', 'show-run', '--run-id', 'cb1', '-o', 'json'])).stdout) as RunView;
    assert.equal(show.id, 'cb1');
  });
});
