import semver from 'semver';

/**
 * A new-tag policy: `semver:RANGE` (tags read as versions, `v1.2`, `15.3-alpine` → 15.3.0 for the
 * comparison) or `regex:PATTERN` (newer = later in natural order: `15.10` after `15.9`).
 */
export function tagMatches(policy: string, tag: string): boolean {
  if (policy.startsWith('regex:')) return new RegExp(policy.slice(6)).test(tag);
  const version = versionOf(tag);
  return version !== null && semver.satisfies(version, policy.slice(7), { includePrerelease: false });
}

/** True when `candidate` comes after `current` in the policy's order. */
export function isNewerTag(policy: string, candidate: string, current: string): boolean {
  if (policy.startsWith('semver:')) {
    const a = versionOf(candidate);
    const b = versionOf(current);
    if (a === null) return false;
    return b === null || semver.gt(a, b);
  }
  return candidate.localeCompare(current, undefined, { numeric: true }) > 0;
}

function versionOf(tag: string): string | null {
  return semver.valid(tag) ?? semver.coerce(tag)?.version ?? null;
}
