import { RegistryError } from './errors.js';

/**
 * ACR's locks (changeable attributes), as one vocabulary for every path that enforces them.
 * writeEnabled=false forbids overwrite and delete, deleteEnabled=false delete only,
 * readEnabled=false pulls; listEnabled=false only hides from listings, so it never refuses.
 */
export type LockAttribute = 'writeEnabled' | 'deleteEnabled' | 'readEnabled';

export type LockedItem =
  | { kind: 'repository'; repository: string }
  | { kind: 'tag'; repository: string; tag: string }
  | { kind: 'manifest'; repository: string; digest: string };

/** The flags of one repository, tag or manifest (the stored 0/1 columns). */
export interface LockFlags {
  write_enabled: number | boolean;
  delete_enabled: number | boolean;
}

const off = (flag: number | boolean): boolean => Number(flag) === 0;

/** Which attribute forbids deleting an item with these flags (write first: it says more). */
export function deleteLockOf(flags: LockFlags): LockAttribute | null {
  if (off(flags.write_enabled)) return 'writeEnabled';
  if (off(flags.delete_enabled)) return 'deleteEnabled';
  return null;
}

export function writeLockOf(flags: Pick<LockFlags, 'write_enabled'>): LockAttribute | null {
  return off(flags.write_enabled) ? 'writeEnabled' : null;
}

/**
 * DENIED (403), not UNSUPPORTED: the operation is supported, this item forbids it, and clients
 * (docker, skopeo, containerd) show a 403's message as a refusal rather than retrying or
 * falling back to another API, which they may do on 405.
 */
export function lockedError(item: LockedItem, attribute: LockAttribute): RegistryError {
  const what =
    item.kind === 'repository'
      ? `repository "${item.repository}"`
      : item.kind === 'tag'
        ? `tag "${item.tag}" in repository "${item.repository}"`
        : `manifest "${item.digest}" in repository "${item.repository}"`;
  return new RegistryError('DENIED', `${what} is locked: ${attribute} is false`, { ...item, attribute });
}
