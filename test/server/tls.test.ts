import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdirSync, copyFileSync, rmSync } from 'node:fs';
import { get } from 'node:https';
import { join } from 'node:path';
import { adminPassword, startBerth, tempDir, type BerthProcess } from '../helpers/berth-process.js';
import { run } from '../helpers/commands.js';
import { ensureBusyboxImage } from '../helpers/fixtures.js';

let berth: BerthProcess;
let pki: string;

/** An internal CA (root -> intermediate -> leaf for localhost/127.0.0.1), made with openssl. */
async function makePki(dir: string): Promise<void> {
  const openssl = (...args: string[]) => run('openssl', args);
  await openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'root.key'), '-out', join(dir, 'root.crt'),
    '-days', '2', '-subj', '/CN=Berth Test Root CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  writeFileSync(join(dir, 'ca.ext'), 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n');
  await openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'int.key'), '-out', join(dir, 'int.csr'), '-subj', '/CN=Berth Test Intermediate');
  await openssl('x509', '-req', '-in', join(dir, 'int.csr'), '-CA', join(dir, 'root.crt'), '-CAkey', join(dir, 'root.key'),
    '-CAcreateserial', '-out', join(dir, 'int.crt'), '-days', '2', '-extfile', join(dir, 'ca.ext'));
  writeFileSync(join(dir, 'leaf.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
  await openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'leaf.key'), '-out', join(dir, 'leaf.csr'), '-subj', '/CN=localhost');
  await openssl('x509', '-req', '-in', join(dir, 'leaf.csr'), '-CA', join(dir, 'int.crt'), '-CAkey', join(dir, 'int.key'),
    '-CAcreateserial', '-out', join(dir, 'leaf.crt'), '-days', '2', '-extfile', join(dir, 'leaf.ext'));
  writeFileSync(join(dir, 'chain.crt'), readFileSync(join(dir, 'leaf.crt'), 'utf8') + readFileSync(join(dir, 'int.crt'), 'utf8'));
  mkdirSync(join(dir, 'trust'));
  copyFileSync(join(dir, 'root.crt'), join(dir, 'trust', 'ca.crt'));
}

before(async () => {
  pki = tempDir('pki');
  await makePki(pki);
  berth = await startBerth({ args: ['--tls-cert', join(pki, 'chain.crt'), '--tls-key', join(pki, 'leaf.key')] });
});
after(async () => {
  await berth?.stop();
});

describe('TLS with a certificate from an internal CA', () => {
  it('docker logs in, pushes and pulls over TLS once the engine trusts the CA (certs.d)', async () => {
    const image = await ensureBusyboxImage();
    const certsDir = join('/etc/docker/certs.d', berth.host);
    mkdirSync(certsDir, { recursive: true });
    copyFileSync(join(pki, 'root.crt'), join(certsDir, 'ca.crt'));
    const env = { DOCKER_CONFIG: join(tempDir('tls-docker'), 'docker') };
    const docker = (args: string[], input?: string) => run('docker', args, { env, ...(input ? { input } : {}) });
    try {
      assert.match(await docker(['login', berth.host, '-u', 'admin', '--password-stdin'], adminPassword), /Login Succeeded/);
      await docker(['tag', image, `${berth.host}/tls/docker:1`]);
      assert.match(await docker(['push', `${berth.host}/tls/docker:1`]), /digest: sha256:/);
      await docker(['rmi', `${berth.host}/tls/docker:1`]);
      await docker(['pull', `${berth.host}/tls/docker:1`]);
      await docker(['rmi', `${berth.host}/tls/docker:1`]);
    } finally {
      rmSync(certsDir, { recursive: true, force: true });
    }
  });

  it('serves HTTPS with the full chain to a client that trusts only the root', async () => {
    assert.ok(berth.url.startsWith('https://'));
    const status = await new Promise<number>((resolve, reject) => {
      get(`${berth.url}/v2/`, { ca: readFileSync(join(pki, 'root.crt')), auth: `admin:${adminPassword}` }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      }).on('error', reject);
    });
    assert.equal(status, 200);
  });

  it('skopeo pushes and pulls with only the CA in its cert dir, and fails without it', async () => {
    const image = await ensureBusyboxImage();
    const trust = join(pki, 'trust');
    process.env.REGISTRY_AUTH_FILE = join(tempDir('tls-auth'), 'auth.json');
    await run('skopeo', ['login', '--cert-dir', trust, '-u', 'admin', '--password-stdin', berth.host], { input: adminPassword });
    await run('skopeo', ['copy', '--dest-cert-dir', trust, `docker-daemon:${image}`, `docker://${berth.host}/tls/busybox:1`]);
    const folder = tempDir('tls-pull');
    await run('skopeo', ['copy', '--src-cert-dir', trust, `docker://${berth.host}/tls/busybox:1`, `dir:${folder}`]);
    const manifest = JSON.parse(readFileSync(join(folder, 'manifest.json'), 'utf8')) as { layers: unknown[] };
    assert.equal(manifest.layers.length, 1);
    await assert.rejects(
      run('skopeo', ['inspect', '--cert-dir', tempDir('empty-trust'), `docker://${berth.host}/tls/busybox:1`]),
      /certificate/i,
    );
  });
});
