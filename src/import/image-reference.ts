import { RegistryError } from '../registry/errors.js';
import { isDigest, isRepositoryName, isTag } from '../registry/reference.js';

export interface SourceReference {
  /** `https://host[:port]` (http for loopback hosts, or when given explicitly). */
  registryUrl: string;
  /** host[:port] as written, e.g. `docker.io`, `127.0.0.1:5001`. */
  registryHost: string;
  repository: string;
  reference: string;
}

const loopback = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?$/;

/**
 * Parses `[scheme://]registry/repo:tag`, `registry/repo@sha256:…`, or a Docker Hub short name
 * (`alpine:3` = `docker.io/library/alpine:3`). The first component is a registry when it has a
 * dot, a colon or is `localhost`, as docker decides.
 */
export function parseSourceReference(value: string): SourceReference {
  const invalid = (why: string): RegistryError => new RegistryError('INVALID_REQUEST', `invalid source "${value}": ${why}`);
  let rest = value.trim();
  let scheme: string | null = null;
  const schemeMatch = /^(https?):\/\//.exec(rest);
  if (schemeMatch) {
    scheme = schemeMatch[1]!;
    rest = rest.slice(schemeMatch[0].length);
  }
  const slash = rest.indexOf('/');
  const first = slash >= 0 ? rest.slice(0, slash) : '';
  let host = 'docker.io';
  if (scheme || first.includes('.') || first.includes(':') || first === 'localhost') {
    if (slash < 0) throw invalid('no repository');
    host = first;
    rest = rest.slice(slash + 1);
  }
  let repository: string;
  let reference: string;
  const at = rest.indexOf('@');
  if (at >= 0) {
    repository = rest.slice(0, at);
    reference = rest.slice(at + 1);
    if (!isDigest(reference)) throw invalid('bad digest');
  } else {
    const colon = rest.lastIndexOf(':');
    repository = colon >= 0 ? rest.slice(0, colon) : rest;
    reference = colon >= 0 ? rest.slice(colon + 1) : 'latest';
    if (!isTag(reference)) throw invalid('bad tag');
  }
  if (host === 'docker.io' && !repository.includes('/')) repository = `library/${repository}`;
  if (!isRepositoryName(repository)) throw invalid('bad repository name');
  const registryUrl = `${scheme ?? (loopback.test(host) ? 'http' : 'https')}://${host === 'docker.io' ? 'registry-1.docker.io' : host}`;
  return { registryUrl, registryHost: host, repository, reference };
}

/** `repo:tag` of a target. */
export function parseTarget(value: string): { repository: string; tag: string } {
  const colon = value.lastIndexOf(':');
  const repository = colon > 0 ? value.slice(0, colon) : value;
  const tag = colon > 0 ? value.slice(colon + 1) : 'latest';
  if (!isRepositoryName(repository) || !isTag(tag)) throw new RegistryError('INVALID_REQUEST', `invalid target "${value}": use repo:tag`);
  return { repository, tag };
}
