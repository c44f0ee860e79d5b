/** An image reference as a registry sees it: Docker Hub spelled out, the tag never implied. */
export interface ImageReference {
  /** `docker.io` for Docker Hub; host[:port] otherwise. */
  registry: string;
  /** `library/alpine` for Docker Hub official images. */
  repository: string;
  /** `latest` when none is given; '' when the reference pins a digest and names no tag. */
  tag: string;
  digest?: string;
}

const component = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const tagPattern = /^[\w][\w.-]{0,127}$/;
const digestPattern = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;
const hostPattern = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?$/;

/**
 * Docker's normalisation (distribution/reference ParseNormalizedNamed): the first component is a
 * registry only when it has a dot or a colon, is `localhost`, or has upper case (repository
 * names cannot), so `myorg/app` is Docker Hub's. A reference pinned by digest alone gets no
 * `latest`: it does not follow any tag, and a trigger must not think it does.
 */
export function normalizeImageReference(text: string): ImageReference {
  const invalid = (why: string) => new Error(`invalid image reference "${text}": ${why}`);
  let rest = text.trim();
  if (rest === '') throw invalid('it is empty');
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!digestPattern.test(digest)) throw invalid(`"${digest}" is not a digest`);
  }
  let tag = '';
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!tagPattern.test(tag)) throw invalid(`"${tag}" is not a tag`);
  }
  const slash = rest.indexOf('/');
  const first = slash < 0 ? '' : rest.slice(0, slash);
  const hasRegistry = slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase());
  let registry = hasRegistry ? first : 'docker.io';
  let repository = hasRegistry ? rest.slice(slash + 1) : rest;
  if (hasRegistry && !hostPattern.test(registry)) throw invalid(`"${registry}" is not a registry host`);
  if (registry === 'index.docker.io' || registry === 'registry-1.docker.io') registry = 'docker.io';
  if (registry === 'docker.io' && !repository.includes('/')) repository = `library/${repository}`;
  if (repository === '' || !repository.split('/').every((part) => component.test(part))) throw invalid('the repository name is not valid (lower case letters, digits, separators)');
  if (tag === '' && digest === undefined) tag = 'latest';
  return { registry, repository, tag, ...(digest !== undefined ? { digest } : {}) };
}

/** `registry/repository[:tag][@digest]`, the fully qualified form (what `docker pull` accepts). */
export function formatImageReference(reference: ImageReference): string {
  return `${reference.registry}/${reference.repository}${reference.tag ? `:${reference.tag}` : ''}${reference.digest ? `@${reference.digest}` : ''}`;
}

/** Same image, tag and digest (a reference's identity for deduplication). */
export function sameImage(a: ImageReference, b: ImageReference): boolean {
  return formatImageReference(a) === formatImageReference(b);
}
