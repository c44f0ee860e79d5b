import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { adminCredentials, startBerth, tempDir, type BerthProcess } from '../helpers/berth-process.js';
import { run } from '../helpers/commands.js';
import { ensureBusyboxImage } from '../helpers/fixtures.js';
import { api, tokenPassword, type CreatedToken } from '../helpers/management.js';

let berth: BerthProcess;
let image: string;
process.env.DOCKER_CONFIG = join(tempDir('docker-token-config'), 'docker');
process.env.REGISTRY_AUTH_FILE = join(tempDir('token-auth'), 'auth.json');

async function token(name: string, body: object): Promise<string> {
  const created = await api<CreatedToken>(berth.url, adminCredentials, 'POST', '/api/v1/tokens', { name, ...body });
  assert.equal(created.status, 201);
  return tokenPassword(created.body);
}

async function fails(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, pattern);
}

before(async () => {
  berth = await startBerth();
  image = await ensureBusyboxImage();
  await run('docker', ['login', berth.host, '-u', 'admin', '--password-stdin'], { input: adminCredentials.password });
  for (const repo of ['hello-world', 'team/app']) {
    await run('docker', ['tag', image, `${berth.host}/${repo}:1`]);
    await run('docker', ['push', `${berth.host}/${repo}:1`]);
    await run('docker', ['rmi', `${berth.host}/${repo}:1`]);
  }
  await run('docker', ['logout', berth.host]);
});
after(async () => {
  await berth?.stop();
});

describe('real clients logged in with repository-scoped tokens', () => {
  it('docker login with a pull-only token: pulls hello-world, cannot push it, cannot pull elsewhere', async () => {
    const password = await token('hello-reader', { rules: [{ repository: 'hello-world', actions: ['content/read'] }] });
    const login = await run('docker', ['login', berth.host, '-u', 'hello-reader', '--password-stdin'], { input: password });
    assert.match(login, /Login Succeeded/);
    await run('docker', ['pull', `${berth.host}/hello-world:1`]);
    await fails(run('docker', ['push', `${berth.host}/hello-world:1`]), /denied/);
    await fails(run('docker', ['pull', `${berth.host}/team/app:1`]), /denied/);
    await run('docker', ['rmi', `${berth.host}/hello-world:1`]);
    await run('docker', ['logout', berth.host]);
  });

  it('docker login with a push token for base/*: pushes under base/, refused elsewhere', async () => {
    const password = await token('base-pusher', { rules: [{ repository: 'base/*', actions: ['content/read', 'content/write'] }] });
    await run('docker', ['login', berth.host, '-u', 'base-pusher', '--password-stdin'], { input: password });
    await run('docker', ['tag', image, `${berth.host}/base/busybox:1`]);
    const pushed = await run('docker', ['push', `${berth.host}/base/busybox:1`]);
    assert.match(pushed, /digest: sha256:/);
    await run('docker', ['tag', image, `${berth.host}/team/app:2`]);
    await fails(run('docker', ['push', `${berth.host}/team/app:2`]), /denied/);
    await run('docker', ['rmi', `${berth.host}/base/busybox:1`, `${berth.host}/team/app:2`]);
    await run('docker', ['logout', berth.host]);
  });

  it('a wrong password fails docker login', async () => {
    await fails(run('docker', ['login', berth.host, '-u', 'admin', '--password-stdin'], { input: 'not-the-password' }), /unauthorized|401/i);
  });

  it('skopeo --creds and buildah login honour the same scopes', async () => {
    const password = await token('skopeo-reader', { rules: [{ repository: 'team/app', actions: ['content/read'] }] });
    const creds = `skopeo-reader:${password}`;
    const out = await run('skopeo', ['inspect', '--tls-verify=false', '--creds', creds, `docker://${berth.host}/team/app:1`]);
    assert.match(out, /"Digest": "sha256:/);
    await fails(run('skopeo', ['inspect', '--tls-verify=false', '--creds', creds, `docker://${berth.host}/hello-world:1`]), /denied|unauthorized/i);
    await fails(
      run('skopeo', ['copy', '--dest-tls-verify=false', '--dest-creds', creds, `docker-daemon:${image}`, `docker://${berth.host}/team/app:3`]),
      /denied|unauthorized/i,
    );
    const login = await run('buildah', ['login', '--tls-verify=false', '-u', 'skopeo-reader', '--password-stdin', berth.host], { input: password });
    assert.match(login, /Login Succeeded/);
    const storage = ['--root', tempDir('bh-root'), '--runroot', tempDir('bh-run'), '--storage-driver', 'vfs'];
    await run('buildah', [...storage, 'pull', '--tls-verify=false', `docker://${berth.host}/team/app:1`]);
    await fails(run('buildah', [...storage, 'pull', '--tls-verify=false', `docker://${berth.host}/hello-world:1`]), /denied|unauthorized/i);
  });

  it('podman login and pull with a token', async () => {
    const password = await token('podman-reader', { rules: [{ repository: 'hello-world', actions: ['content/read'] }] });
    const storage = ['--root', tempDir('podman-root'), '--runroot', tempDir('podman-run'), '--storage-driver', 'vfs'];
    const login = await run('podman', [...storage, 'login', '--tls-verify=false', '-u', 'podman-reader', '--password-stdin', berth.host], { input: password });
    assert.match(login, /Login Succeeded/);
    await run('podman', [...storage, 'pull', '--tls-verify=false', `${berth.host}/hello-world:1`]);
    await fails(run('podman', [...storage, 'pull', '--tls-verify=false', `${berth.host}/team/app:1`]), /denied|unauthorized/i);
  });
});
