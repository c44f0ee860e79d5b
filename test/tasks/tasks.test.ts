import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { adminCredentials, startBerth, tempDir, type BerthProcess } from '../helpers/berth-process.js';
import { run } from '../helpers/commands.js';
import { berthCliAsync, leftovers, publishBaseImage } from '../helpers/task-helpers.js';

let berth: BerthProcess;
const configDir = tempDir('task-resource-cli');
process.env.DOCKER_CONFIG = join(tempDir('task-resource-docker'), 'docker');
const cli = (args: string[]) => berthCliAsync(configDir, args);

before(async () => {
  berth = await startBerth();
  await publishBaseImage(berth);
  assert.equal((await cli(['login', berth.url, '-u', 'admin', '-p', adminCredentials.password])).status, 0);
});
after(async () => {
  await berth?.stop();
});

describe('tasks (berth task ...)', () => {
  it('a task file task: create with values, run with overrides, show, list, update, disable, delete', async () => {
    const file = join(tempDir('task-file'), 'acr-task.yaml');
    writeFileSync(file, 'version: v1.1.0\nsteps:\n  - cmd: berth-fixture/busybox:1 echo "{{.Values.greeting}} from {{.Run.TaskName}} run {{.Run.ID}}"\n');
    const created = await cli(['task', 'create', '-n', 'greeter', '--file', file, '--set', 'greeting=hello', '-o', 'json']);
    assert.equal(created.status, 0, created.stderr);
    assert.equal((JSON.parse(created.stdout) as { kind: string }).kind, 'file');

    const first = await cli(['task', 'run', '-n', 'greeter']);
    assert.equal(first.status, 0, first.stderr);
    assert.match(first.stdout, /hello from greeter run cb\d+/);
    const second = await cli(['task', 'run', '-n', 'greeter', '--set', 'greeting=bonjour']);
    assert.match(second.stdout, /bonjour from greeter/);

    const runs = JSON.parse((await cli(['task', 'list-runs', '--name', 'greeter', '-o', 'json'])).stdout) as Array<{ taskName: string; runType: string; trigger: string }>;
    assert.equal(runs.length, 2);
    assert.ok(runs.every((r) => r.taskName === 'greeter' && r.runType === 'AutoRun' && r.trigger === 'Manual'));
    assert.match((await cli(['task', 'list-runs', '--top', '5'])).stdout, /cb\d+\s+greeter\s+linux\/amd64\s+Succeeded\s+Manual/);

    assert.match((await cli(['task', 'list'])).stdout, /greeter\s+linux\/amd64\s+Enabled/);
    const updated = await cli(['task', 'update', '-n', 'greeter', '--set', 'greeting=hola', '--status', 'Disabled', '-o', 'json']);
    assert.equal((JSON.parse(updated.stdout) as { values: { greeting: string } }).values.greeting, 'hola');
    const refused = await cli(['task', 'run', '-n', 'greeter']);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /disabled/);
    assert.equal((await cli(['task', 'delete', '-n', 'greeter'])).status, 0);
    assert.equal((await cli(['task', 'show', '-n', 'greeter'])).status, 1);
  });

  it('a task keeps --set-secret values sealed: every run gets them, masked; show describes them', async () => {
    const file = join(tempDir('task-secret'), 'acr-task.yaml');
    writeFileSync(file, 'version: v1.1.0\nsteps:\n  - cmd: berth-fixture/busybox:1 sh -c "echo token={{.Values.token}} len=${#T}"\n    env: ["T={{.Values.token}}"]\n');
    const created = await cli(['task', 'create', '-n', 'secretive', '--file', file, '--set-secret', 'token=task-kept-secret-31', '-o', 'json']);
    assert.equal(created.status, 0, created.stderr);
    assert.ok(!created.stdout.includes('task-kept-secret-31'));
    assert.deepEqual(JSON.parse(created.stdout).secretValues, { token: '(stored, encrypted)' });
    const result = await cli(['task', 'run', '-n', 'secretive']);
    assert.equal(result.status, 0, result.stderr + result.stdout);
    assert.match(result.stdout, /token=\*\*\* len=19/);
    assert.ok(!result.stdout.includes('task-kept-secret-31'));
    const override = await cli(['task', 'run', '-n', 'secretive', '--set-secret', 'token=run-only-secret']);
    assert.match(override.stdout, /token=\*\*\* len=15/, 'a run\'s own --set-secret wins');
    assert.ok(!(await cli(['task', 'show', '-n', 'secretive', '-o', 'json'])).stdout.includes('task-kept-secret-31'));
    assert.equal((await cli(['task', 'delete', '-n', 'secretive'])).status, 0);
  });

  it('a build task keeps its context and build args for every run', async () => {
    const context = tempDir('task-build');
    writeFileSync(join(context, 'Dockerfile'), 'ARG BASE\nFROM ${BASE}\nARG WHO\nRUN echo "built for $WHO" > /built\nCMD ["cat", "/built"]\n');
    const created = await cli(['task', 'create', '-n', 'buildit', '-f', 'Dockerfile', '-t', 'tasks/app:{{.Run.ID}}', '-c', context,
      '--arg', `BASE=${berth.host}/base/busybox:1`, '--arg', 'WHO=everyone']);
    assert.equal(created.status, 0, created.stderr);
    for (let i = 0; i < 2; i++) {
      const result = await cli(['task', 'run', '-n', 'buildit', '-o', 'json']);
      assert.equal(result.status, 0, result.stderr);
      const record = JSON.parse(result.stdout) as { id: string; runType: string; outputImages: Array<{ repository: string; tag: string }> };
      assert.equal(record.runType, 'AutoBuild');
      assert.deepEqual(record.outputImages.map((o) => `${o.repository}:${o.tag}`), [`tasks/app:${record.id}`]);
      const image = `${berth.host}/tasks/app:${record.id}`;
      await run('docker', ['pull', image]);
      assert.equal((await run('docker', ['run', '--rm', '--network', 'none', image])).trim(), 'built for everyone');
      await run('docker', ['rmi', image]);
    }
    assert.equal(await leftovers(berth), '');
  });

  it('task-run events reach webhooks: queued, then succeeded or failed, with run id, task, trigger and images', async () => {
    const { Receiver } = await import('../helpers/receiver.js');
    const { api } = await import('../helpers/management.js');
    const receiver = new Receiver();
    await receiver.start();
    try {
      const created = await api(berth.url, adminCredentials, 'POST', '/api/v1/webhooks', { name: 'runevents', uri: receiver.url, actions: ['run_queued', 'run_succeeded', 'run_failed'] });
      assert.equal(created.status, 201);
      const ok = join(tempDir('event-task'), 'acr-task.yaml');
      writeFileSync(ok, 'steps:\n  - cmd: berth-fixture/busybox:1 true\n');
      assert.equal((await cli(['task', 'create', '-n', 'eventful', '--file', ok])).status, 0);
      const result = await cli(['task', 'run', '-n', 'eventful', '-o', 'json']);
      const id = (JSON.parse(result.stdout) as { id: string }).id;
      const failing = await cli(['run', '--cmd', 'berth-fixture/busybox:1 false', '/dev/null', '-o', 'json']);
      assert.equal(failing.status, 1);
      const events = await receiver.waitFor(4);
      const mine = events.filter((e) => e.json.target.runId === id);
      assert.deepEqual(mine.map((e) => e.json.action), ['run_queued', 'run_succeeded']);
      assert.deepEqual(
        { task: mine[1]!.json.target.task, trigger: mine[1]!.json.target.trigger, status: mine[1]!.json.target.status },
        { task: 'eventful', trigger: 'Manual', status: 'Succeeded' },
      );
      assert.ok(events.some((e) => e.json.action === 'run_failed' && e.json.target.task === null));
    } finally {
      await receiver.stop();
    }
  });

  it('mistakes are refused at create time, clearly', async () => {
    const file = join(tempDir('bad-task'), 'acr-task.yaml');
    writeFileSync(file, 'version: v1.1.0\nsteps:\n  - id: a\n    cmd: x {{ .Values.v | printf }}\n');
    const bad = await cli(['task', 'create', '-n', 'badtask', '--file', file]);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /line 4, column 12: function "printf" is not supported/);
    const both = await cli(['task', 'create', '-n', 'twokinds', '--file', file, '--cmd', 'x']);
    assert.match(both.stderr, /give one of --file/);
    const noImage = await cli(['task', 'create', '-n', 'noimage', '-f', 'Dockerfile', '-c', tempDir('empty')]);
    assert.match(noImage.stderr, /at least one --image/);
    assert.equal((await cli(['task', 'run', '-n', 'nosuchtask'])).status, 1);
  });
});
