import { RegistryError } from './errors.js';

/** Repository name grammar of the OCI Distribution Spec (path components separated by `/`). */
const repositoryNamePattern = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
const tagPattern = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
const digestPattern = /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;
const anyDigestShape = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

export const maxRepositoryNameLength = 255;

export type DigestAlgorithm = 'sha256' | 'sha512';

export function isRepositoryName(name: string): boolean {
  return name.length <= maxRepositoryNameLength && repositoryNamePattern.test(name);
}

export function assertRepositoryName(name: string): void {
  if (!isRepositoryName(name)) {
    throw new RegistryError('NAME_INVALID', 'invalid repository name', { name });
  }
}

export function isTag(reference: string): boolean {
  return tagPattern.test(reference);
}

export function isDigest(value: string): boolean {
  return digestPattern.test(value);
}

/** Accepts only digests Berth can verify; well-formed digests of other algorithms are "unsupported". */
export function parseDigest(value: string): { algorithm: DigestAlgorithm; hex: string; digest: string } {
  if (digestPattern.test(value)) {
    const [algorithm, hex] = value.split(':') as [DigestAlgorithm, string];
    return { algorithm, hex, digest: value };
  }
  if (anyDigestShape.test(value) && !value.startsWith('sha256:') && !value.startsWith('sha512:')) {
    throw new RegistryError('UNSUPPORTED', 'unsupported digest algorithm', { digest: value }, { status: 400 });
  }
  throw new RegistryError('DIGEST_INVALID', 'invalid digest', { digest: value });
}

export type ManifestReference = { kind: 'tag'; tag: string } | { kind: 'digest'; digest: string };

export function parseManifestReference(reference: string): ManifestReference {
  if (reference.includes(':')) return { kind: 'digest', digest: parseDigest(reference).digest };
  if (!isTag(reference)) throw new RegistryError('TAG_INVALID', 'invalid tag', { tag: reference });
  return { kind: 'tag', tag: reference };
}
