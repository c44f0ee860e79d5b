import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { adminCredentials, startBerth, tempDir, type BerthProcess } from '../helpers/berth-process.js';
import { run } from '../helpers/commands.js';
import { api } from '../helpers/management.js';
import { busyboxImage } from '../helpers/fixtures.js';
import { berthCliAsync, leftovers, publishBaseImage, type RunView } from '../helpers/task-helpers.js';
import { startAgentProcess } from '../helpers/agent-process.js';

interface BaseImageView {
  registry: string;
  repository: string;
  tag: string;
  digest: string | null;
  dependency: 'runtime' | 'buildtime';
}
type RunWithBases = RunView & { baseImages?: BaseImageView[] };

process.env.DOCKER_CONFIG = join(tempDir('bases-docker'), 'docker');
const configDir = tempDir('bases-cli');
let berth: BerthProcess;

const cli = (args: string[], dir = configDir) => berthCliAsync(dir, args);
const runIdOf = (stdout: string) => /Queued a run with ID: (cb\d+)/.exec(stdout)![1]!;
const record = (server: BerthProcess, id: string) => api<RunWithBases>(server.url, adminCredentials, 'GET', `/api/v1/runs/${id}`).then((r) => r.body);

/** Tags `image` as server/repository:tag, pushes it and returns the digest the registry stored. */
async function pushAs(server: BerthProcess, image: string, reference: string): Promise<string> {
  await run('docker', ['tag', image, `${server.host}/${reference}`]);
  const output = await run('docker', ['push', `${server.host}/${reference}`]);
  return /digest: (sha256:[a-f0-9]{64})/.exec(output)![1]!;
}

async function manifestDigest(server: BerthProcess, repository: string, tag: string): Promise<string> {
  const response = await fetch(`${server.url}/v2/${repository}/manifests/${tag}`, {
    method: 'HEAD',
    headers: {
      Authorization: `Basic ${Buffer.from(`${adminCredentials.username}:${adminCredentials.password}`).toString('base64')}`,
      Accept: 'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json',
    },
  });
  assert.equal(response.status, 200, `${repository}:${tag} is in the registry`);
  return response.headers.get('docker-content-digest')!;
}

const sortBases = (bases: BaseImageView[] | undefined) => [...(bases ?? [])].sort((a, b) => `${a.repository}:${a.tag}`.localeCompare(`${b.repository}:${b.tag}`));

before(async () => {
  berth = await startBerth();
  await publishBaseImage(berth);
  await pushAs(berth, busyboxImage, 'base/tools:1');
  assert.equal((await cli(['login', berth.url, '-u', 'admin', '-p', adminCredentials.password])).status, 0);
});
after(async () => {
  await berth?.stop();
});

describe('base images a run was built FROM', () => {
  it('a quick build records its runtime and buildtime bases with the digests used; aliases and scratch are not bases', async () => {
    const context = tempDir('bases-quick');
    // The classic builder predefines no BUILDPLATFORM: an ARG carries the engine's own platform.
    const platform = (await run('docker', ['version', '--format', '{{.Server.Os}}/{{.Server.Arch}}'])).trim();
    writeFileSync(
      join(context, 'Dockerfile'),
      `\uFEFF# escape=\\\n# a multi-stage build\nARG BASE\nARG TOOLS=${berth.host}/base/tools:1\nARG BUILD_PLATFORM=${platform}\nFROM --platform=$BUILD_PLATFORM \${TOOLS} AS tools\nFROM tools AS tools-again\nFROM scratch AS empty\nFROM \${BASE}\nCOPY --from=tools-again /bin/busybox /copied-busybox\n`,
    );
    const result = await cli(['build', '-t', 'bases/quick:{{.Run.ID}}', '--build-arg', 'BASE={{.Run.Registry}}/base/busybox:1', context]);
    assert.equal(result.status, 0, result.stdout + result.stderr);
    const finished = await record(berth, runIdOf(result.stdout));
    assert.deepEqual(sortBases(finished.baseImages), [
      { registry: berth.host, repository: 'base/busybox', tag: '1', digest: await manifestDigest(berth, 'base/busybox', '1'), dependency: 'runtime' },
      { registry: berth.host, repository: 'base/tools', tag: '1', digest: await manifestDigest(berth, 'base/tools', '1'), dependency: 'buildtime' },
    ]);
    assert.match(result.stdout, new RegExp(`Pulling base image ${berth.host}/base/busybox:1`));
  });

  it('pulls each base fresh: an update in the registry is built on even when the engine has the old copy', async () => {
    const first = await pushAs(berth, busyboxImage, 'base/fresh:1');
    // A newer base/fresh:1 in the registry, with a file the old one lacks...
    const marker = `marker-${Date.now()}`;
    const newer = tempDir('bases-newer');
    writeFileSync(join(newer, 'Dockerfile'), `FROM ${busyboxImage}\nRUN echo ${marker} > /marker\n`);
    await run('docker', ['build', '--network', 'none', '-t', `${berth.host}/base/fresh:1`, newer], { env: { ...process.env, DOCKER_BUILDKIT: '0' } });
    const second = (/digest: (sha256:[a-f0-9]{64})/.exec(await run('docker', ['push', `${berth.host}/base/fresh:1`])) ?? [])[1]!;
    assert.notEqual(second, first);
    // ...while the engine's base/fresh:1 is the old image again.
    await run('docker', ['tag', busyboxImage, `${berth.host}/base/fresh:1`]);

    const context = tempDir('bases-fresh');
    writeFileSync(join(context, 'Dockerfile'), `FROM ${berth.host}/base/fresh:1\nRUN cat /marker > /seen\n`);
    const result = await cli(['build', '-t', 'bases/fresh:{{.Run.ID}}', context]);
    assert.equal(result.status, 0, result.stdout + result.stderr);
    const id = runIdOf(result.stdout);
    const run1 = await record(berth, id);
    assert.deepEqual(run1.baseImages, [{ registry: berth.host, repository: 'base/fresh', tag: '1', digest: second, dependency: 'runtime' }]);
    const built = `${berth.host}/bases/fresh:${id}`;
    await run('docker', ['pull', built]);
    assert.equal((await run('docker', ['run', '--rm', '--network', 'none', built, 'cat', '/seen'])).trim(), marker);
    await run('docker', ['rmi', built]);
  });

  it('a task file: every build step\'s bases, but not the images an earlier step of the run built', async () => {
    const context = tempDir('bases-file');
    mkdirSync(join(context, 'base'));
    mkdirSync(join(context, 'app'));
    writeFileSync(join(context, 'base', 'Dockerfile'), `FROM ${berth.host}/base/busybox:1\nRUN echo team > /team\n`);
    writeFileSync(
      join(context, 'app', 'Dockerfile'),
      `ARG BASE\nFROM ${berth.host}/base/tools:1 AS tools\nFROM \${BASE} AS release\nCOPY --from=tools /bin/busybox /tools-busybox\nFROM ${berth.host}/never/pulled:1 AS after-target\n`,
    );
    writeFileSync(
      join(context, 'acr-task.yaml'),
      `version: v1.1.0
steps:
  - id: team-base
    build: -t {{.Run.Registry}}/team/base:{{.Run.ID}} base
  - id: app
    when: [team-base]
    build: -t {{.Run.Registry}}/team/app:{{.Run.ID}} --build-arg BASE={{.Run.Registry}}/team/base:{{.Run.ID}} --target release app
  - id: check
    when: [app]
    cmd: '{{.Run.Registry}}/team/app:{{.Run.ID}} cat /team'
`,
    );
    const result = await cli(['run', '-f', 'acr-task.yaml', context]);
    assert.equal(result.status, 0, result.stdout + result.stderr);
    const finished = await record(berth, runIdOf(result.stdout));
    assert.deepEqual(sortBases(finished.baseImages), [
      { registry: berth.host, repository: 'base/busybox', tag: '1', digest: await manifestDigest(berth, 'base/busybox', '1'), dependency: 'runtime' },
      { registry: berth.host, repository: 'base/tools', tag: '1', digest: await manifestDigest(berth, 'base/tools', '1'), dependency: 'buildtime' },
    ]);
    // The run's own team/base (never pushed) is not pulled, nor the stage after --target.
    assert.doesNotMatch(result.stdout, /Pulling base image .*team\/base/);
    assert.doesNotMatch(result.stdout, /never\/pulled/);
    assert.equal(await leftovers(berth), '');
  });
});

describe('base images through a remote agent', () => {
  const agentKey = 'bases-agent-key-0123456789abcdef';

  it('reports the bases to the server with the run\'s end', async (t) => {
    const server = await startBerth({ args: ['--no-local-agent'], env: { BERTH_AGENT_KEY: agentKey }, t });
    await publishBaseImage(server);
    const dir = tempDir('bases-remote-cli');
    assert.equal((await cli(['login', server.url, '-u', 'admin', '-p', adminCredentials.password], dir)).status, 0);
    await startAgentProcess({ server, key: agentKey, name: 'bases-remote', t });
    const context = tempDir('bases-remote');
    writeFileSync(join(context, 'Dockerfile'), `FROM ${server.host}/base/busybox:1\nRUN true\n`);
    const result = await cli(['build', '-t', 'remote/app:{{.Run.ID}}', context], dir);
    assert.equal(result.status, 0, result.stdout + result.stderr);
    const finished = await record(server, runIdOf(result.stdout));
    assert.equal(finished.agent, 'bases-remote');
    assert.deepEqual(finished.baseImages, [{ registry: server.host, repository: 'base/busybox', tag: '1', digest: await manifestDigest(server, 'base/busybox', '1'), dependency: 'runtime' }]);
  });
});
