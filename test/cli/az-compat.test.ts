import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { adminPassword, cliPath, repoRoot, startBerth, tempDir, type BerthProcess } from '../helpers/berth-process.js';
import { publishBaseImage } from '../helpers/task-helpers.js';
import { basicAuth } from '../helpers/oci-client.js';

const configDir = tempDir('az-compat-config');

function berthCli(args: string[]): { status: number; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [cliPath, ...args], {
    env: { ...process.env, BERTH_CONFIG_DIR: configDir },
    encoding: 'utf8',
    cwd: repoRoot,
    timeout: 60_000,
  });
  return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

function ok(...args: string[]): string {
  const result = berthCli(args);
  assert.equal(result.status, 0, `berth ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

describe("az acr's global options: -r/--registry, -o and --query", () => {
  let registryA: BerthProcess;
  let registryB: BerthProcess;
  before(async () => {
    [registryA, registryB] = await Promise.all([startBerth(), startBerth()]);
    ok('login', registryA.url, '-n', 'testacr', '-u', 'admin', '-p', adminPassword);
    ok('login', registryB.url, '-n', 'teamacr', '-u', 'admin', '-p', adminPassword);
  });
  after(async () => {
    await Promise.all([registryA?.stop(), registryB?.stop()]);
  });

  it("seed 001's `token create ... -o tsv --query credentials.passwords[0].value` prints just the password, on the named registry", async () => {
    const password = ok('token', 'create', '-n', 'hello-reader', '-r', 'testacr', '--repository', 'hello-world', 'content/read', '-o', 'tsv', '--query', 'credentials.passwords[0].value').trim();
    assert.match(password, /^\S{20,}$/, 'one value, nothing else');
    const login = (url: string) => fetch(`${url}/v2/`, { headers: { Authorization: basicAuth({ username: 'hello-reader', password }) } });
    assert.equal((await login(registryA.url)).status, 200, 'the token is on testacr');
    assert.equal((await login(registryB.url)).status, 401, 'and not on teamacr, the current login');
  });

  it('-r takes a login name, a host, or a URL; an unknown one is refused with the known ones', () => {
    const names = (registry: string): string[] => JSON.parse(ok('token', 'list', '-r', registry, '-o', 'json', '--query', '[].name')) as string[];
    assert.ok(names('testacr').includes('hello-reader'));
    assert.ok(names(registryA.host).includes('hello-reader'));
    assert.ok(names(registryA.url).includes('hello-reader'));
    assert.ok(!names('teamacr').includes('hello-reader'));
    assert.ok(!(JSON.parse(ok('token', 'list', '-o', 'json', '--query', '[].name')) as string[]).includes('hello-reader'), 'no -r: the current login');
    const unknown = berthCli(['token', 'list', '-r', 'nosuchacr']);
    assert.equal(unknown.status, 1);
    assert.match(unknown.stderr, /not logged in to a registry called "nosuchacr".*testacr/);
  });

  it('every output format prints the same data', () => {
    const asJson = JSON.parse(ok('token', 'show', '-n', 'hello-reader', '-r', 'testacr', '-o', 'json')) as Record<string, unknown>;
    assert.deepEqual(JSON.parse(ok('token', 'show', '-n', 'hello-reader', '-r', 'testacr', '-o', 'jsonc')), asJson);
    assert.deepEqual(parseYaml(ok('token', 'show', '-n', 'hello-reader', '-r', 'testacr', '-o', 'yaml')), asJson);
    assert.equal(ok('token', 'show', '-n', 'hello-reader', '-r', 'testacr', '-o', 'none'), '');
    const tsv = ok('token', 'list', '-r', 'testacr', '-o', 'tsv', '--query', '[].[name, status]').trim().split('\n');
    assert.ok(tsv.includes('hello-reader\tenabled'), tsv.join(' | '));
    const table = ok('token', 'list', '-r', 'testacr', '--query', '[].name');
    assert.match(table, /^Result\n-+\n/);
    assert.match(table, /hello-reader/);
    const bad = berthCli(['token', 'list', '-r', 'testacr', '-o', 'json', '--query', '[?name=']);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /invalid --query/);
    assert.match(berthCli(['token', 'list', '-o', 'xml']).stderr, /unknown output format "xml"/);
  });

  it("task create -f follows ACR's rule: .yaml is a task file, any other name a Dockerfile", () => {
    const folder = tempDir('az-compat-context');
    writeFileSync(join(folder, 'Dockerfile-YourApp'), 'FROM scratch\nCOPY Dockerfile-YourApp /\n');
    writeFileSync(join(folder, 'acr-task.yaml'), 'version: v1.1.0\nsteps:\n  - cmd: busybox echo hi\n');
    const build = JSON.parse(ok('task', 'create', '-r', 'testacr', '--name', 'YourApp', '--image', 'yourapp:latest', '--context', folder, '--file', 'Dockerfile-YourApp', '--assign-identity', '-o', 'json')) as { kind: string; dockerfile: string | null; taskFile: string | null };
    assert.equal(build.kind, 'build');
    assert.equal(build.dockerfile, 'Dockerfile-YourApp');
    const file = JSON.parse(ok('task', 'create', '-r', 'testacr', '-n', 'importer', '-f', join(folder, 'acr-task.yaml'), '-c', '/dev/null', '-o', 'json')) as { kind: string; taskFile: string | null };
    assert.equal(file.kind, 'file');
    assert.match(file.taskFile ?? '', /busybox echo hi/);
    ok('task', 'credential', 'add', '-r', 'testacr', '-n', 'YourApp', '--login-server', 'upstream.example:5000', '-u', 'puller', '-p', 'secret-value', '--use-identity', '[system]');
    const servers = JSON.parse(ok('task', 'credential', 'list', '-r', 'testacr', '-n', 'YourApp', '-o', 'json', '--query', '[].loginServer')) as string[];
    assert.deepEqual(servers, ['upstream.example:5000']);
  });

  it('task logs without --run-id shows the latest run, of the registry or of a task (-n), as az acr task logs', async () => {
    const base = await publishBaseImage(registryA);
    ok('task', 'create', '-r', 'testacr', '-n', 'log-task', '--cmd', `${base} echo logs-marker-one`, '-c', '/dev/null');
    ok('task', 'run', '-r', 'testacr', '-n', 'log-task');
    ok('task', 'create', '-r', 'testacr', '-n', 'other-log-task', '--cmd', `${base} echo logs-marker-two`, '-c', '/dev/null');
    ok('task', 'run', '-r', 'testacr', '-n', 'other-log-task');
    assert.match(ok('task', 'logs', '-r', 'testacr'), /logs-marker-two/);
    const ofTask = ok('task', 'logs', '-r', 'testacr', '-n', 'log-task');
    assert.match(ofTask, /logs-marker-one/);
    assert.doesNotMatch(ofTask, /logs-marker-two/);
    const listed = JSON.parse(ok('task', 'list-runs', '-r', 'testacr', '-n', 'log-task', '-o', 'json')) as Array<{ taskName: string }>;
    assert.deepEqual(listed.map((r) => r.taskName), ['log-task'], 'list-runs -n shows that task\'s runs only');
    const none = berthCli(['task', 'logs', '-r', 'teamacr', '-n', 'log-task']);
    assert.notEqual(none.status, 0);
    assert.match(none.stderr, /no run of task log-task/);
  });
});
