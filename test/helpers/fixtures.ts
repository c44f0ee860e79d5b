import { mkdirSync, mkdtempSync, copyFileSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { run } from './commands.js';

export const busyboxImage = 'berth-fixture/busybox:1';

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

/**
 * A three-layer image no other image shares a layer with (its base holds a random marker), so a
 * pull after `docker rmi` really downloads every layer. Built offline with the classic builder.
 */
export async function buildUniqueImage(tag: string): Promise<{ marker: string }> {
  await requireDocker();
  const busybox = ['/bin/busybox', '/usr/bin/busybox'].find((p) => existsSync(p));
  if (!busybox) throw new Error('busybox-static is not installed (apt-get install busybox-static)');
  const marker = randomUUID();
  const root = mkdtempSync(join(tmpdir(), 'berth-rootfs-'));
  mkdirSync(join(root, 'bin'));
  copyFileSync(busybox, join(root, 'bin/busybox'));
  for (const applet of ['sh', 'cat', 'echo']) symlinkSync('busybox', join(root, 'bin', applet));
  writeFileSync(join(root, 'marker'), marker);
  const tarball = `${root}.tar`;
  await run('tar', ['-C', root, '-cf', tarball, '.']);
  const base = `${tag}-base`;
  await run('docker', ['import', tarball, base]);
  const context = mkdtempSync(join(tmpdir(), 'berth-ctx-'));
  writeFileSync(join(context, 'greeting.txt'), `hello from layer two ${marker}\n`);
  writeFileSync(join(context, 'data.bin'), randomBytes(256 * 1024));
  writeFileSync(
    join(context, 'Dockerfile'),
    `FROM ${base}\nCOPY greeting.txt /greeting.txt\nCOPY data.bin /data.bin\nCMD ["/bin/cat", "/greeting.txt"]\n`,
  );
  await run('docker', ['build', '--network', 'none', '-t', tag, context], { env: { DOCKER_BUILDKIT: '0' } });
  await run('docker', ['rmi', base]);
  return { marker };
}
