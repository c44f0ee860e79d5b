import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { adminCredentials, cliPath, repoRoot, startBerth, tempDir, type BerthProcess } from '../helpers/berth-process.js';
import { OciClient } from '../helpers/oci-client.js';
import { runProcess } from '../helpers/processes.js';

let berth: BerthProcess;
const configDir = tempDir('cli-config');

/** Runs the real CLI (as `./berth` does) with this test's own BERTH_CONFIG_DIR. */
function berthCli(args: string[], input?: string): { status: number; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [cliPath, ...args], {
    env: { ...process.env, BERTH_CONFIG_DIR: configDir },
    input,
    encoding: 'utf8',
    cwd: repoRoot,
    // spawnSync blocks this process: a stuck CLI must fail the test, not hang the file.
    timeout: 120_000,
    killSignal: 'SIGKILL',
  });
  return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

function ok(args: string[], input?: string): string {
  const result = berthCli(args, input);
  assert.equal(result.status, 0, `berth ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

function json<T>(args: string[]): T {
  return JSON.parse(ok([...args, '-o', 'json'])) as T;
}

/** The CLI without blocking this process (needed when this process also serves the receiver). */
async function jsonAsync<T>(args: string[]): Promise<T> {
  const result = await runProcess(process.execPath, [cliPath, ...args, '-o', 'json'], { env: { ...process.env, BERTH_CONFIG_DIR: configDir }, cwd: repoRoot, timeoutMs: 120_000 });
  assert.equal(result.status, 0, result.stderr);
  return JSON.parse(result.stdout) as T;
}

before(async () => {
  berth = await startBerth();
});
after(async () => {
  await berth?.stop();
});

describe('berth CLI', () => {
  it('--version and --help', () => {
    assert.match(ok(['--version']), /^\d+\.\d+\.\d+/);
    const help = ok(['--help']);
    for (const command of ['serve', 'login', 'logout', 'token', 'scope-map', 'user', 'admin', 'config', 'audit']) assert.match(help, new RegExp(`\\b${command}\\b`));
  });

  it('without a login, commands say so and exit 1', () => {
    const result = berthCli(['token', 'list']);
    assert.equal(result.status, 1);
    assert.match(result.stderr, /not logged in/);
  });

  it('login -p stores a refresh token (never the password) in a 0600 file', () => {
    const wrong = berthCli(['login', berth.url, '-u', 'admin', '-p', 'wrong-password']);
    assert.equal(wrong.status, 1);
    assert.match(wrong.stderr, /login failed/);
    assert.match(ok(['login', berth.url, '-u', 'admin', '-p', adminCredentials.password]), /Login Succeeded/);
    const file = join(configDir, 'credentials.json');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const stored = readFileSync(file, 'utf8');
    assert.ok(!stored.includes(adminCredentials.password));
    assert.match(stored, /refreshToken/);
  });

  it('login --password-stdin works too', () => {
    assert.match(ok(['login', berth.host, '-u', 'admin', '--password-stdin'], `${adminCredentials.password}\n`), /Login Succeeded/);
  });

  it('token create --repository REPO ACTION... (repeated) makes its own scope map and shows passwords once', async () => {
    const created = json<{ name: string; scopeMap: string; credentials: { passwords: Array<{ name: string; value: string }> } }>([
      'token', 'create', '-n', 'cli-token', '--repository', 'base/*', 'content/read', 'content/write', '--repository', 'team/app', 'content/read',
    ]);
    assert.equal(created.scopeMap, 'cli-token-scope-map');
    assert.equal(created.credentials.passwords.length, 2);
    const password = created.credentials.passwords[0]!.value;
    const client = new OciClient(berth.url, { username: 'cli-token', password });
    assert.equal((await client.pushImage('base/cli', 'v1')).digest.startsWith('sha256:'), true);
    assert.equal((await client.request('GET', '/v2/base/cli/manifests/v1')).status, 200);

    const map = json<{ rules: Array<{ repository: string; actions: string[] }> }>(['scope-map', 'show', '-n', 'cli-token-scope-map']);
    assert.deepEqual(map.rules, [
      { repository: 'base/*', actions: ['content/read', 'content/write'] },
      { repository: 'team/app', actions: ['content/read'] },
    ]);
    const table = ok(['token', 'list']);
    assert.match(table.split('\n')[0]!, /^NAME\s+SCOPE MAP\s+PASSWORD1 EXPIRY\s+PASSWORD2 EXPIRY\s+STATUS\s+PROVISIONING STATE\s+CREATION DATE$/);
    assert.match(table, /cli-token\s+cli-token-scope-map/);
    const shown = json<{ credentials: { passwords: Array<{ value?: string }> } }>(['token', 'show', '-n', 'cli-token']);
    assert.ok(shown.credentials.passwords.every((p) => p.value === undefined), 'passwords are never shown again');

    ok(['token', 'update', '-n', 'cli-token', '--status', 'disabled']);
    assert.equal((await client.request('GET', '/v2/base/cli/manifests/v1')).status, 401);
    ok(['token', 'update', '-n', 'cli-token', '--status', 'enabled']);
    const regenerated = json<{ credentials: { passwords: Array<{ name: string; value?: string }> } }>(['token', 'credential', 'generate', '-n', 'cli-token', '--password1']);
    const newPassword = regenerated.credentials.passwords.find((p) => p.name === 'password1')!.value!;
    assert.notEqual(newPassword, password);
    assert.equal((await client.request('GET', '/v2/base/cli/manifests/v1')).status, 401);
    assert.equal((await new OciClient(berth.url, { username: 'cli-token', password: newPassword }).request('GET', '/v2/base/cli/manifests/v1')).status, 200);
    ok(['token', 'delete', '-n', 'cli-token', '--yes']);
    assert.equal(berthCli(['scope-map', 'show', '-n', 'cli-token-scope-map']).status, 1);
  });

  it('scope maps: create, update (add/remove), token from a scope map, delete refused while used', () => {
    ok(['scope-map', 'create', '-n', 'readers-map', '--repository', 'team/*', 'content/read', '--description', 'team readers']);
    const updated = json<{ rules: Array<{ repository: string; actions: string[] }> }>([
      'scope-map', 'update', '-n', 'readers-map', '--add-repository', 'base/*', 'content/read', 'metadata/read', '--remove-repository', 'team/*', 'content/read',
    ]);
    assert.deepEqual(updated.rules, [{ repository: 'base/*', actions: ['content/read', 'metadata/read'] }]);
    ok(['token', 'create', '-n', 'map-token', '--scope-map', 'readers-map', '--no-passwords']);
    const refused = berthCli(['scope-map', 'delete', '-n', 'readers-map']);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /used by tokens: map-token/);
    assert.match(ok(['scope-map', 'list']), /_repositories_pull\s+SystemDefined/);
    const bad = berthCli(['scope-map', 'create', '-n', 'bad-map', '--repository', 'team/app']);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /no actions for repository "team\/app"/);
  });

  it('users and roles; admin credentials; anonymous pull; audit', async () => {
    const created = json<{ user: { name: string; roles: string[] }; password: string }>(['user', 'create', '-n', 'carol', '--role', 'AcrPull']);
    assert.deepEqual(created.user.roles, ['AcrPull']);
    const carol = new OciClient(berth.url, { username: 'carol', password: created.password });
    assert.equal((await carol.request('POST', '/v2/base/cli/blobs/uploads/')).status, 403);
    ok(['user', 'set-role', '-n', 'carol', '--role', 'AcrPull', 'AcrPush']);
    assert.equal((await carol.request('POST', '/v2/base/cli/blobs/uploads/')).status, 202);
    assert.match(ok(['user', 'list']), /carol\s+AcrPull, AcrPush/);
    ok(['user', 'delete', '-n', 'carol']);
    assert.equal((await carol.request('GET', '/v2/')).status, 401);

    assert.equal(json<{ username: string; enabled: boolean }>(['admin', 'show-credentials']).enabled, true);
    assert.ok(!ok(['admin', 'show-credentials', '-o', 'json']).includes(adminCredentials.password));

    assert.equal(json<{ anonymousPullEnabled: boolean }>(['config', 'anonymous-pull', '--enabled', 'true']).anonymousPullEnabled, true);
    assert.equal((await new OciClient(berth.url, null).request('GET', '/v2/base/cli/manifests/v1')).status, 200);
    ok(['config', 'anonymous-pull', '--enabled', 'false']);
    assert.equal((await new OciClient(berth.url, null).request('GET', '/v2/base/cli/manifests/v1')).status, 401);

    const events = json<Array<{ kind: string; actor: string; target: string }>>(['audit', 'list', '--top', '50']);
    const kinds = new Set(events.map((e) => e.kind));
    for (const kind of ['login.succeeded', 'login.failed', 'token.created', 'token.updated', 'user.roles_changed', 'user.deleted', 'settings.anonymous_pull']) {
      assert.ok(kinds.has(kind), kind);
    }
    assert.ok(json<unknown[]>(['audit', 'list', '--kind', 'user.deleted']).length === 1);
  });

  it('webhook create/update/show/list/get-config/ping/list-events/delete', async () => {
    const { Receiver } = await import('../helpers/receiver.js');
    const receiver = new Receiver();
    await receiver.start();
    try {
      const created = json<{ name: string; scope: string; actions: string[]; status: string }>([
        'webhook', 'create', '-n', 'cliwebhook', '--uri', receiver.url, '--actions', 'push', 'delete', '--scope', 'base/cli', '--headers', 'X-Team=platform', 'Authorization=Bearer hidden',
      ]);
      assert.deepEqual([created.scope, created.actions, created.status], ['base/cli:latest', ['push', 'delete'], 'enabled']);
      assert.match(ok(['webhook', 'list']), /cliwebhook\s+enabled\s+base\/cli:latest\s+push, delete/);
      const config = json<{ serviceUri: string; customHeaders: Record<string, string> }>(['webhook', 'get-config', '-n', 'cliwebhook']);
      assert.equal(config.serviceUri, receiver.url);
      assert.equal(config.customHeaders['X-Team'], 'platform');
      ok(['webhook', 'update', '-n', 'cliwebhook', '--scope', 'base/cli:*', '--status', 'enabled']);
      assert.equal(json<{ scope: string }>(['webhook', 'show', '-n', 'cliwebhook']).scope, 'base/cli:*');
      const ping = await jsonAsync<{ status: string; statusCode: number }>(['webhook', 'ping', '-n', 'cliwebhook']);
      assert.deepEqual([ping.status, ping.statusCode], ['delivered', 200]);
      await new OciClient(berth.url).pushImage('base/cli', 'hooked');
      await receiver.waitFor(2);
      const events = json<Array<{ action: string; eventRequestMessage: { headers: Record<string, string> } }>>(['webhook', 'list-events', '-n', 'cliwebhook']);
      assert.deepEqual(events.map((e) => e.action).sort(), ['ping', 'push']);
      assert.equal(events[0]!.eventRequestMessage.headers.Authorization, '******');
      assert.match(ok(['webhook', 'list-events', '-n', 'cliwebhook']).split('\n')[0]!, /^ID\s+ACTION\s+STATUS\s+ATTEMPTS\s+HTTP STATUS\s+CREATED$/);
      const bad = berthCli(['webhook', 'create', '-n', 'badhook1', '--uri', receiver.url, '--actions', 'explode']);
      assert.equal(bad.status, 1);
      assert.match(bad.stderr, /actions\/0 must be equal to one of the allowed values \(push, delete, quarantine, chart_push, chart_delete, run_queued, run_succeeded, run_failed\)/);
      ok(['webhook', 'delete', '-n', 'cliwebhook']);
      assert.equal(berthCli(['webhook', 'show', '-n', 'cliwebhook']).status, 1);
    } finally {
      await receiver.stop();
    }
  });

  it('admin regenerate replaces the password; logout forgets the login', async () => {
    const { password } = json<{ password: string }>(['admin', 'regenerate']);
    assert.equal((await new OciClient(berth.url).request('GET', '/v2/')).status, 401, 'old password no longer works');
    assert.equal((await new OciClient(berth.url, { username: 'admin', password }).request('GET', '/v2/')).status, 200);
    assert.match(ok(['logout']), /Removed login credentials/);
    assert.equal(berthCli(['token', 'list']).status, 1);
  });
});
