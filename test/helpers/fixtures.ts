import { mkdirSync, mkdtempSync, copyFileSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from './commands.js';

export const busyboxImage = 'berth-fixture/busybox:1';
export const multiLayerImage = 'berth-fixture/multilayer:1';

/** Fails loudly (never skips) when the Docker engine the suite needs is not running. */
export async function requireDocker(): Promise<void> {
  await run('docker', ['info', '--format', '{{.ServerVersion}}'], { timeoutMs: 20_000 });
}

async function imageExists(ref: string): Promise<boolean> {
  try {
    await run('docker', ['image', 'inspect', ref], { timeoutMs: 20_000 });
    return true;
  } catch {
    return false;
  }
}

/** A base image made offline from Debian's busybox-static: one layer with a working shell. */
export async function ensureBusyboxImage(): Promise<string> {
  await requireDocker();
  if (await imageExists(busyboxImage)) return busyboxImage;
  const busybox = ['/bin/busybox', '/usr/bin/busybox'].find((p) => existsSync(p));
  if (!busybox) throw new Error('busybox-static is not installed (apt-get install busybox-static)');
  const root = mkdtempSync(join(tmpdir(), 'berth-rootfs-'));
  mkdirSync(join(root, 'bin'));
  copyFileSync(busybox, join(root, 'bin/busybox'));
  for (const applet of ['sh', 'echo', 'cat', 'ls', 'wget', 'httpd', 'sleep', 'true', 'false', 'sha256sum']) {
    symlinkSync('busybox', join(root, 'bin', applet));
  }
  const tarball = join(root, '..', `${root.split('/').pop()}.tar`);
  await run('tar', ['-C', root, '-cf', tarball, '.']);
  await run('docker', ['import', '--change', 'CMD ["/bin/sh"]', tarball, busyboxImage]);
  return busyboxImage;
}

/** Three layers (base + two COPY layers), built with the engine's classic builder and no network. */
export async function ensureMultiLayerImage(): Promise<string> {
  await ensureBusyboxImage();
  if (await imageExists(multiLayerImage)) return multiLayerImage;
  const context = mkdtempSync(join(tmpdir(), 'berth-ctx-'));
  writeFileSync(join(context, 'greeting.txt'), 'hello from layer two\n');
  writeFileSync(join(context, 'data.bin'), Buffer.alloc(512 * 1024, 7));
  writeFileSync(
    join(context, 'Dockerfile'),
    `FROM ${busyboxImage}\nCOPY greeting.txt /greeting.txt\nCOPY data.bin /data.bin\nCMD ["/bin/cat", "/greeting.txt"]\n`,
  );
  await run('docker', ['build', '--network', 'none', '-t', multiLayerImage, context], { env: { DOCKER_BUILDKIT: '0' } });
  return multiLayerImage;
}
