import { RegistryError } from './errors.js';
import { isTag } from './reference.js';

/**
 * Version tags of the form `PREFIX-X.Y.Z` (`6.0-bullseye-slim-1.4.0`): the platform images of
 * S5 carry one per release, and the next is computed from the highest there is.
 */

export const versionBumps = ['major', 'minor', 'patch'] as const;
export type VersionBump = (typeof versionBumps)[number];

export type Version = [major: number, minor: number, patch: number];

// No leading zeros, as SemVer: `1.02.0` is not a version, so it is never the highest.
const versionPattern = /^(0|[1-9]\d{0,14})\.(0|[1-9]\d{0,14})\.(0|[1-9]\d{0,14})$/;
/** The longest version suffix this allows (`-999999999999999.…`) still fits in a 128-character tag. */
const maxPrefixLength = 80;

const invalid = (message: string, detail?: unknown) => new RegistryError('INVALID_REQUEST', message, detail);

export function assertVersionPrefix(prefix: string): void {
  if (prefix.length === 0 || prefix.length > maxPrefixLength || !isTag(`${prefix}-1.0.0`)) {
    throw invalid(`invalid version prefix "${prefix}": 1 to ${maxPrefixLength} of A-Z a-z 0-9 _ . -, not starting with . or - (tags are PREFIX-X.Y.Z)`, { prefix });
  }
}

export function assertVersionBump(bump: string): asserts bump is VersionBump {
  if (!(versionBumps as readonly string[]).includes(bump)) throw invalid(`invalid version bump "${bump}": use major, minor or patch`, { bump });
}

/** The version a tag names under `prefix`, or null for any other tag (other prefixes, `-rc1`, `latest`). */
export function versionOf(prefix: string, tag: string): Version | null {
  if (!tag.startsWith(`${prefix}-`)) return null;
  const match = versionPattern.exec(tag.slice(prefix.length + 1));
  return match ? [Number(match[1]), Number(match[2]), Number(match[3])] : null;
}

const compare = (a: Version, b: Version) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2];

export function highestVersion(prefix: string, tags: Iterable<string>): Version | null {
  let highest: Version | null = null;
  for (const tag of tags) {
    const version = versionOf(prefix, tag);
    if (version && (highest === null || compare(version, highest) > 0)) highest = version;
  }
  return highest;
}

/** 1.0.0 when there is none yet (whatever the bump: the first release), else the highest bumped. */
export function nextVersion(highest: Version | null, bump: VersionBump): Version {
  if (highest === null) return [1, 0, 0];
  const [major, minor, patch] = highest;
  if (bump === 'major') return [major + 1, 0, 0];
  if (bump === 'minor') return [major, minor + 1, 0];
  return [major, minor, patch + 1];
}

export const formatVersion = (version: Version): string => version.join('.');
