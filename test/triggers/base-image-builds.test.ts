import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { adminCredentials, startBerth, tempDir, type BerthProcess } from '../helpers/berth-process.js';
import { run } from '../helpers/commands.js';
import { api } from '../helpers/management.js';
import { busyboxImage } from '../helpers/fixtures.js';
import { berthCliAsync, publishBaseImage, waitForRun } from '../helpers/task-helpers.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Build tasks that rebuild themselves, with the real engine: the bases are known from the task's
 * Dockerfile before any run, a new base digest rebuilds on it, the build records the digest it
 * used, and re-pushing that digest runs nothing. A new-tag policy sets the FROM line's ARG.
 */
interface RunView {
  id: string;
  taskName: string;
  trigger: string;
  status: string;
  baseImages?: Array<{ repository: string; tag: string; digest: string | null; dependency: string }>;
  outputImages: Array<{ repository: string; tag: string; digest: string }>;
}
interface TaskView {
  triggerKinds: string[];
  baseImages: Array<{ registry: string; repository: string; tag: string; dependency: string; digest: string | null }>;
}

process.env.DOCKER_CONFIG = join(tempDir('rebuild-docker'), 'docker');

describe('build tasks rebuilt by base-image updates (real engine)', () => {
  let berth: BerthProcess;
  const config = tempDir('rebuild-cli');
  const cli = (args: string[]) => berthCliAsync(config, args);
  const runsOf = async (task: string) => (await api<RunView[]>(berth.url, adminCredentials, 'GET', `/api/v1/runs?task=${task}&top=100`)).body.filter((r) => r.taskName === task);
  const show = async (task: string) => (await api<TaskView>(berth.url, adminCredentials, 'GET', `/api/v1/tasks/${task}`)).body;
  /** A new image under `reference` (a marker file makes its digest new); returns the pushed digest. */
  const pushNewBase = async (reference: string, marker: string) => {
    const context = tempDir('rebuild-base');
    writeFileSync(join(context, 'Dockerfile'), `FROM ${busyboxImage}\nRUN echo ${marker} > /base-marker\n`);
    await run('docker', ['build', '--network', 'none', '-t', `${berth.host}/${reference}`, context], { env: { ...process.env, DOCKER_BUILDKIT: '0' } });
    return /digest: (sha256:[a-f0-9]{64})/.exec(await run('docker', ['push', `${berth.host}/${reference}`]))![1]!;
  };

  before(async () => {
    berth = await startBerth();
    await publishBaseImage(berth);
    assert.equal((await cli(['login', berth.url, '-u', 'admin', '-p', adminCredentials.password])).status, 0);
  });
  after(async () => {
    await berth?.stop();
  });

  it('knows its runtime base at creation, rebuilds once per new base digest, and records the digest it built on', async () => {
    await pushNewBase('platform/runtime:1', 'first');
    const context = tempDir('rebuild-app');
    writeFileSync(join(context, 'Dockerfile'), `FROM ${berth.host}/base/busybox:1 AS tools\nFROM ${berth.host}/platform/runtime:1\nCOPY --from=tools /bin/busybox /tools-busybox\nCMD ["cat", "/base-marker"]\n`);
    const created = await cli(['task', 'create', '-n', 'app-rebuild', '-f', 'Dockerfile', '-t', 'apps/app:{{.Run.ID}}', '-t', 'apps/app:latest', '-c', context, '-o', 'json']);
    assert.equal(created.status, 0, created.stderr);
    const bases = await waitFor(async () => {
      const task = await show('app-rebuild');
      return task.baseImages.length === 2 ? task.baseImages : null;
    }, { what: 'the bases read from the task\'s Dockerfile', timeoutMs: 30_000 });
    assert.deepEqual(bases.map((b) => [b.repository, b.tag, b.dependency, b.digest]).sort(), [
      ['base/busybox', '1', 'buildtime', null],
      ['platform/runtime', '1', 'runtime', null],
    ]);
    const table = await cli(['task', 'show', '-n', 'app-rebuild']);
    assert.match(table.stdout, /BASE IMAGE\s+DEPENDENCY\s+DIGEST/);
    assert.match(table.stdout, new RegExp(`${berth.host}/platform/runtime:1\\s+runtime`));

    // A new runtime base: one run, by itself, on the new digest.
    const second = await pushNewBase('platform/runtime:1', 'second');
    const triggered = await waitFor(async () => (await runsOf('app-rebuild'))[0] ?? null, { what: 'the base update to queue a build', timeoutMs: 30_000 });
    assert.equal(triggered.trigger, 'Image Update');
    const done = await waitForRun(berth, triggered.id, ['Succeeded', 'Failed', 'Error'], 240_000);
    assert.equal(done.status, 'Succeeded', JSON.stringify(done));
    const finished = (await runsOf('app-rebuild')).find((r) => r.id === triggered.id)!;
    assert.deepEqual(finished.baseImages!.find((b) => b.repository === 'platform/runtime'), { registry: berth.host, repository: 'platform/runtime', tag: '1', digest: second, dependency: 'runtime' } as never);
    await run('docker', ['pull', `${berth.host}/apps/app:latest`]);
    assert.equal((await run('docker', ['run', '--rm', '--network', 'none', `${berth.host}/apps/app:latest`])).trim(), 'second', 'built on the new base');
    const recorded = await waitFor(async () => (await show('app-rebuild')).baseImages.find((b) => b.repository === 'platform/runtime' && b.digest === second) ?? null, {
      what: 'the task to record the digest its build used',
      timeoutMs: 30_000,
    });
    assert.equal(recorded.digest, second);

    // Its buildtime base changes: not a trigger (Runtime is the default type). The runtime base
    // re-pushed with the same digest: nothing either.
    await pushNewBase('base/busybox:1', 'tools-changed');
    await run('docker', ['push', `${berth.host}/platform/runtime:1`]);
    const marker = 'settle';
    await pushNewBase('settle/marker:1', marker);
    await api(berth.url, adminCredentials, 'POST', '/api/v1/tasks', { name: 'settle-marker', command: 'busybox true', watchImages: [`${berth.host}/settle/marker:1`] });
    await pushNewBase('settle/marker:1', `${marker}-2`);
    await waitFor(async () => (await runsOf('settle-marker')).length > 0, { what: 'a later push to be handled (so the earlier ones were)', timeoutMs: 30_000 });
    assert.equal((await runsOf('app-rebuild')).length, 1, 'one run in all');
    const kinds = await cli(['task', 'list', '-o', 'table']);
    assert.match(kinds.stdout, /app-rebuild\s+linux\/amd64\s+Enabled\s+uploaded context\s+BASE_IMAGE/);
  });

  it('a new tag matching the policy builds with the FROM line\'s ARG set to it', async () => {
    await pushNewBase('runtime/node:15.1.0', 'node-15.1');
    const context = tempDir('rebuild-node');
    writeFileSync(join(context, 'Dockerfile'), `ARG NODE_TAG\nFROM ${berth.host}/runtime/node:\${NODE_TAG}\nCMD ["cat", "/base-marker"]\n`);
    const created = await cli(['task', 'create', '-n', 'node-app', '-f', 'Dockerfile', '-t', 'apps/node-app:latest', '--arg', 'NODE_TAG=15.1.0', '-c', context, '--base-image-tag-policy', 'semver:>=15 <16']);
    assert.equal(created.status, 0, created.stderr);
    await waitFor(async () => (await show('node-app')).baseImages.some((b) => b.tag === '15.1.0'), { what: 'the base from the Dockerfile and its ARG', timeoutMs: 30_000 });
    await pushNewBase('runtime/node:16.0.0', 'node-16');
    await pushNewBase('runtime/node:15.2.0', 'node-15.2');
    const triggered = await waitFor(async () => (await runsOf('node-app'))[0] ?? null, { what: 'the new tag to queue a build', timeoutMs: 30_000 });
    const done = await waitForRun(berth, triggered.id, ['Succeeded', 'Failed', 'Error'], 240_000);
    assert.equal(done.status, 'Succeeded', JSON.stringify(done));
    await run('docker', ['pull', `${berth.host}/apps/node-app:latest`]);
    assert.equal((await run('docker', ['run', '--rm', '--network', 'none', `${berth.host}/apps/node-app:latest`])).trim(), 'node-15.2');
    assert.equal((await runsOf('node-app')).length, 1, '16.0.0 is outside the policy');
  });
});
