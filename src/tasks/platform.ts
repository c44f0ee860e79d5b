import { RegistryError } from '../registry/errors.js';

/** ACR's run platforms: os/architecture[/variant]; `linux` alone means linux/amd64, as in ACR. */
export const defaultPlatform = 'linux/amd64';

const architectureNames: Record<string, string> = { x86_64: 'amd64', x64: 'amd64', aarch64: 'arm64', armhf: 'arm', i386: '386', ia32: '386' };

/** `linux`, `linux/arm64`, `Linux/ARM/v7` → `linux/amd64`, `linux/arm64`, `linux/arm/v7`; anything else is refused. */
export function normalizePlatform(text: string | null | undefined): string {
  if (!text) return defaultPlatform;
  const [os = '', architecture = 'amd64', variant, ...rest] = text.trim().toLowerCase().split('/');
  const arch = architectureNames[architecture] ?? architecture;
  if (rest.length > 0 || !['linux', 'windows'].includes(os) || !/^[a-z0-9]+$/.test(arch) || (variant !== undefined && !/^v[0-9]+$/.test(variant))) {
    throw new RegistryError('INVALID_REQUEST', `invalid platform "${text}": use os/architecture[/variant], e.g. linux/amd64 or linux/arm/v7`);
  }
  return [os, arch, ...(variant ? [variant] : [])].join('/');
}

export function platformParts(platform: string): { os: string; architecture: string; variant: string | null } {
  const [os, architecture, variant] = normalizePlatform(platform).split('/');
  return { os: os!, architecture: architecture!, variant: variant ?? null };
}
