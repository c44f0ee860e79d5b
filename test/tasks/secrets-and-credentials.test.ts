import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { adminCredentials, startBerth, tempDir, type BerthProcess } from '../helpers/berth-process.js';
import { run } from '../helpers/commands.js';
import { ensureBusyboxImage } from '../helpers/fixtures.js';
import { berthCliAsync, leftovers } from '../helpers/task-helpers.js';
import { SecretCipher } from '../../src/secrets/secret-cipher.js';

let berth: BerthProcess;
let upstream: BerthProcess;
const configDir = tempDir('secrets-cli');
process.env.DOCKER_CONFIG = join(tempDir('secrets-docker'), 'docker');
const cli = (args: string[], input?: string) => berthCliAsync(configDir, args, input);

before(async () => {
  berth = await startBerth({ env: { BERTH_SECRET_KEY: 'a passphrase for the test secret store' } });
  upstream = await startBerth({ env: { BERTH_ADMIN_PASSWORD: 'upstream-secret-pw' } });
  const image = await ensureBusyboxImage();
  await run('docker', ['login', upstream.host, '-u', 'admin', '--password-stdin'], { input: 'upstream-secret-pw' });
  await run('docker', ['tag', image, `${upstream.host}/private/tool:1`]);
  await run('docker', ['push', `${upstream.host}/private/tool:1`]);
  await run('docker', ['rmi', `${upstream.host}/private/tool:1`]);
  await run('docker', ['logout', upstream.host]);
  assert.equal((await cli(['login', berth.url, '-u', 'admin', '-p', adminCredentials.password])).status, 0);
});
after(async () => {
  await berth?.stop();
  await upstream?.stop();
});

describe('secret store', () => {
  it('set, list (names only), use from a task file by Key Vault URL (masked), delete', async () => {
    assert.equal((await cli(['secret', 'set', '-n', 'registry-token', '--value-stdin'], 'tok-4b1d-very-secret\n')).status, 0);
    const listed = await cli(['secret', 'list', '-o', 'json']);
    assert.deepEqual((JSON.parse(listed.stdout) as Array<{ name: string }>).map((s) => s.name), ['registry-token']);
    assert.ok(!listed.stdout.includes('tok-4b1d-very-secret'));
    const db = new BetterSqlite3(join(berth.dataDir, 'metadata.db'), { readonly: true });
    const sealed = (db.prepare('select sealed from secrets').get() as { sealed: string }).sealed;
    db.close();
    assert.ok(!sealed.includes('tok-4b1d') && sealed.startsWith('v1:'), 'encrypted at rest');

    const folder = tempDir('secret-task');
    writeFileSync(join(folder, 'acr-task.yaml'), `version: v1.1.0
secrets:
  - id: token
    keyvault: https://myvault.vault.azure.net/secrets/registry-token
steps:
  - cmd: berth-fixture/busybox:1 sh -c "echo token={{.Secrets.token}} length=\${#T}"
    env: ["T={{.Secrets.token}}"]
`);
    const result = await cli(['run', '-f', 'acr-task.yaml', folder]);
    assert.equal(result.status, 0, result.stderr + result.stdout);
    assert.match(result.stdout, /token=\*\*\* length=20/);
    assert.ok(!result.stdout.includes('tok-4b1d-very-secret'));
    assert.equal((await cli(['secret', 'delete', '-n', 'registry-token'])).status, 0);
    const missing = await cli(['run', '-f', 'acr-task.yaml', folder]);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /secret "registry-token" not found/);
  });

  it('sealed values need the same key and are tamper-evident', () => {
    const cipher = SecretCipher.fromSettings({ keyText: 'k1', dataDir: tempDir('cipher') }).cipher;
    const sealed = cipher.encrypt('hello');
    assert.equal(cipher.decrypt(sealed), 'hello');
    assert.throws(() => SecretCipher.fromSettings({ keyText: 'k2', dataDir: tempDir('cipher') }).cipher.decrypt(sealed), /another key/);
    const parts = sealed.split(':');
    parts[4] = Buffer.from('hellp').toString('base64');
    assert.throws(() => cipher.decrypt(parts.join(':')));
  });
});

describe('task credentials', () => {
  it('a task pulls from a private registry only once it has a credential for it', async () => {
    const file = join(tempDir('cred-task'), 'acr-task.yaml');
    writeFileSync(file, `version: v1.1.0
steps:
  - id: fetch
    cmd: docker pull ${upstream.host}/private/tool:1
  - id: use
    cmd: ${upstream.host}/private/tool:1 echo private-tool-ran
`);
    assert.equal((await cli(['task', 'create', '-n', 'privatepull', '--file', file])).status, 0);
    const denied = await cli(['task', 'run', '-n', 'privatepull']);
    assert.equal(denied.status, 1);
    assert.match(denied.stdout, /unauthorized|denied|authentication required/i);

    assert.equal((await cli(['secret', 'set', '-n', 'upstream-password', '--value', 'upstream-secret-pw'])).status, 0);
    const added = await cli(['task', 'credential', 'add', '-n', 'privatepull', '--login-server', upstream.host, '-u', 'admin', '-p', 'secret:upstream-password', '-o', 'json']);
    assert.equal(added.status, 0, added.stderr);
    assert.deepEqual(JSON.parse(added.stdout), [{ loginServer: upstream.host, username: '(stored, encrypted)', password: 'secret:upstream-password' }]);
    const again = await cli(['task', 'credential', 'add', '-n', 'privatepull', '--login-server', upstream.host, '-u', 'admin', '-p', 'x']);
    assert.match(again.stderr, /already has a credential/);

    const ok = await cli(['task', 'run', '-n', 'privatepull']);
    assert.equal(ok.status, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /private-tool-ran/);
    assert.ok(!ok.stdout.includes('upstream-secret-pw'));
    assert.match((await cli(['task', 'credential', 'list', '-n', 'privatepull'])).stdout, new RegExp(`${upstream.host.replace('.', '\\.')}\\s+\\(stored, encrypted\\)\\s+secret:upstream-password`));
    assert.equal((await cli(['task', 'credential', 'remove', '-n', 'privatepull', '--login-server', upstream.host])).status, 0);
    assert.equal(await leftovers(berth), '');
    await run('docker', ['rmi', `${upstream.host}/private/tool:1`]).catch(() => undefined);
  });
});
