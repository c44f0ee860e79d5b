import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { adminPassword, startBerth, tempDir, type BerthProcess } from '../helpers/berth-process.js';
import { OciClient, mediaTypes } from '../helpers/oci-client.js';
import { run } from '../helpers/commands.js';
import { ensureBusyboxImage } from '../helpers/fixtures.js';

let berth: BerthProcess;
let client: OciClient;

// skopeo and buildah share this file's own auth file, written by a real `skopeo login`.
process.env.REGISTRY_AUTH_FILE = join(tempDir('auth'), 'auth.json');

before(async () => {
  berth = await startBerth();
  client = new OciClient(berth.url);
  await run('skopeo', ['login', '--tls-verify=false', '-u', 'admin', '--password-stdin', berth.host], { input: adminPassword });
});
after(async () => {
  await berth?.stop();
});

const insecure = ['--src-tls-verify=false', '--dest-tls-verify=false'];

async function inspectDigest(ref: string): Promise<string> {
  const out = await run('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${ref}`]);
  const { createHash } = await import('node:crypto');
  return `sha256:${createHash('sha256').update(out).digest('hex')}`;
}

describe('skopeo', () => {
  it('copies into Berth and back out, byte for byte', async () => {
    const image = await ensureBusyboxImage();
    await run('skopeo', ['copy', ...insecure, `docker-daemon:${image}`, `docker://${berth.host}/sk/busybox:1`]);
    const folder = tempDir('skopeo-dir');
    await run('skopeo', ['copy', ...insecure, '--preserve-digests', `docker://${berth.host}/sk/busybox:1`, `dir:${folder}`]);
    assert.ok(existsSync(join(folder, 'manifest.json')));
    await run('skopeo', ['copy', ...insecure, '--preserve-digests', `dir:${folder}`, `docker://${berth.host}/sk/roundtrip:1`]);
    assert.equal(await inspectDigest(`${berth.host}/sk/roundtrip:1`), await inspectDigest(`${berth.host}/sk/busybox:1`));
    const tags = await run('skopeo', ['list-tags', '--tls-verify=false', `docker://${berth.host}/sk/roundtrip`]);
    assert.deepEqual(JSON.parse(tags).Tags, ['1']);
  });

  it('copies a multi-arch index with --all, every platform included', async () => {
    const platforms = [
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64' },
      { os: 'linux', architecture: 's390x' },
    ];
    const children = [];
    for (const platform of platforms) {
      const image = await client.pushImage('sk/multi', `${platform.architecture}`, { platform });
      children.push({ mediaType: mediaTypes.ociManifest, digest: image.digest, size: image.size, platform });
    }
    const { digest: indexDigest } = await client.pushManifest('sk/multi', 'all', {
      schemaVersion: 2,
      mediaType: mediaTypes.ociIndex,
      manifests: children,
    });
    const layout = tempDir('oci-multi');
    await run('skopeo', ['copy', ...insecure, '--all', '--preserve-digests', `docker://${berth.host}/sk/multi:all`, `oci:${layout}:all`]);
    await run('skopeo', ['copy', ...insecure, '--all', '--preserve-digests', `oci:${layout}:all`, `docker://${berth.host}/sk/multi-copy:all`]);
    assert.equal(await inspectDigest(`${berth.host}/sk/multi-copy:all`), indexDigest);
    for (const child of children) {
      const res = await client.request('HEAD', `/v2/sk/multi-copy/manifests/${child.digest}`);
      assert.equal(res.status, 200, child.platform.architecture);
    }
    const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: unknown[] };
    assert.equal(index.manifests.length, 1);
  });
});

describe('buildah', () => {
  it('pushes an image into Berth and pulls it back', async () => {
    const image = await ensureBusyboxImage();
    const storage = ['--root', tempDir('buildah-root'), '--runroot', tempDir('buildah-run'), '--storage-driver', 'vfs'];
    await run('buildah', [...storage, 'pull', `docker-daemon:${image}`]);
    await run('buildah', [...storage, 'push', '--tls-verify=false', image, `docker://${berth.host}/bh/busybox:1`]);
    const manifest = await client.request('GET', '/v2/bh/busybox/manifests/1');
    assert.equal(manifest.status, 200);
    const body = (await manifest.json()) as { layers: Array<{ digest: string }> };
    assert.equal(body.layers.length, 1);
    await run('buildah', [...storage, 'rmi', '--all', '--force']);
    const pulled = await run('buildah', [...storage, 'pull', '--tls-verify=false', `docker://${berth.host}/bh/busybox:1`]);
    assert.match(pulled.trim(), /^[a-f0-9]{64}$/m);
  });
});
