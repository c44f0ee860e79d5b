import { RegistryError } from './errors.js';
import { isDigest } from './reference.js';
import type { ManifestChild } from '../metadata/metadata-store.js';

export const MediaType = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
} as const;

/** The withdrawn OCI artifact manifest, which some tools (oras 1.0-rc) still push. */
const ociArtifactManifest = 'application/vnd.oci.artifact.manifest.v1+json';
const jsonMediaType = /^application\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}\+json$/;

/**
 * A manifest is served with its media type as Content-Type, so only JSON types may be stored:
 * a body declared (or sent) as text/html would otherwise run as a page on the registry's origin.
 * Beyond the image types, a type the body itself declares may be any `application/…+json`.
 */
function isArtifactManifestType(mediaType: string, declaredInBody: boolean): boolean {
  if (mediaType === ociArtifactManifest) return true;
  return declaredInBody && jsonMediaType.test(mediaType);
}

/** Layers that registries never hold (Windows base layers and OCI non-distributable layers). */
const foreignLayerTypes = new Set([
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
]);

const imageConfigTypes = new Set<string>([MediaType.ociConfig, MediaType.dockerConfig]);

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  artifactType?: string;
  annotations?: Record<string, string>;
  platform?: { os: string; architecture: string; variant?: string };
}

export interface ParsedManifest {
  mediaType: string;
  /** Content the registry must already hold in the repository for the manifest to be accepted. */
  children: ManifestChild[];
  config: Descriptor | null;
  artifactType: string | null;
  subject: Descriptor | null;
  annotations: Record<string, string> | null;
}

export function isImageConfigType(mediaType: string | null): boolean {
  return mediaType !== null && imageConfigTypes.has(mediaType);
}

function invalid(message: string, detail?: unknown): RegistryError {
  return new RegistryError('MANIFEST_INVALID', message, detail);
}

function parseDescriptor(value: unknown, where: string): Descriptor {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(`${where} is not a descriptor`);
  const d = value as Record<string, unknown>;
  if (typeof d.mediaType !== 'string' || d.mediaType === '') throw invalid(`${where}: mediaType is required`);
  if (typeof d.digest !== 'string' || !isDigest(d.digest)) throw invalid(`${where}: invalid digest`, { digest: d.digest });
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) throw invalid(`${where}: invalid size`);
  const descriptor: Descriptor = { mediaType: d.mediaType, digest: d.digest, size: d.size };
  if (Array.isArray(d.urls)) descriptor.urls = d.urls.filter((u): u is string => typeof u === 'string');
  if (typeof d.artifactType === 'string') descriptor.artifactType = d.artifactType;
  if (isStringMap(d.annotations)) descriptor.annotations = d.annotations;
  if (typeof d.platform === 'object' && d.platform !== null) {
    const p = d.platform as Record<string, unknown>;
    if (typeof p.os === 'string' && typeof p.architecture === 'string') {
      descriptor.platform = { os: p.os, architecture: p.architecture };
      if (typeof p.variant === 'string') descriptor.platform.variant = p.variant;
    }
  }
  return descriptor;
}

function isStringMap(value: unknown): value is Record<string, string> {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    Object.values(value).every((v) => typeof v === 'string')
  );
}

function descriptorList(value: unknown, where: string): Descriptor[] {
  if (!Array.isArray(value)) throw invalid(`${where} must be an array`);
  return value.map((entry, i) => parseDescriptor(entry, `${where}[${i}]`));
}

/**
 * Validates a manifest body and lists what it references. The media type comes from the body's
 * `mediaType` field or, failing that, the request's Content-Type; when both are given they must agree.
 */
export function parseManifest(content: Uint8Array, contentType: string | undefined): ParsedManifest {
  let body: unknown;
  try {
    body = JSON.parse(Buffer.from(content.buffer, content.byteOffset, content.byteLength).toString('utf8'));
  } catch {
    throw invalid('manifest is not valid JSON');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalid('manifest must be a JSON object');
  const m = body as Record<string, unknown>;
  const headerType = contentType?.split(';')[0]?.trim().toLowerCase() || undefined;
  const bodyType = typeof m.mediaType === 'string' ? m.mediaType : undefined;
  if (headerType === MediaType.dockerSchema1 || headerType === MediaType.dockerSchema1Signed || m.schemaVersion === 1) {
    throw invalid('Docker schema 1 manifests are not supported');
  }
  if (bodyType && headerType && headerType !== 'application/json' && bodyType !== headerType) {
    throw invalid('mediaType in the manifest does not match the Content-Type header', { mediaType: bodyType, contentType: headerType });
  }
  const mediaType =
    bodyType ??
    (headerType && headerType !== 'application/json' ? headerType : Array.isArray(m.manifests) ? MediaType.ociIndex : MediaType.ociManifest);

  const known = [MediaType.ociManifest, MediaType.ociIndex, MediaType.dockerManifest, MediaType.dockerManifestList] as string[];
  if (!known.includes(mediaType) && !isArtifactManifestType(mediaType, bodyType !== undefined)) {
    throw invalid(`unsupported manifest media type "${mediaType}"`, { mediaType });
  }
  if (known.includes(mediaType) && m.schemaVersion !== 2) throw invalid('schemaVersion must be 2');

  const subject = m.subject === undefined ? null : parseDescriptor(m.subject, 'subject');
  const annotations = isStringMap(m.annotations) ? m.annotations : null;
  const artifactTypeField = typeof m.artifactType === 'string' ? m.artifactType : null;

  if (mediaType === MediaType.ociIndex || mediaType === MediaType.dockerManifestList || (m.manifests !== undefined && m.config === undefined)) {
    const manifests = descriptorList(m.manifests, 'manifests');
    return {
      mediaType,
      children: manifests.map((d) => ({ digest: d.digest, kind: 'manifest' as const, size: d.size })),
      config: null,
      artifactType: artifactTypeField,
      subject,
      annotations,
    };
  }

  if (mediaType === MediaType.ociManifest || mediaType === MediaType.dockerManifest || m.config !== undefined) {
    const config = parseDescriptor(m.config, 'config');
    const layers = m.layers === undefined && mediaType !== MediaType.ociManifest && mediaType !== MediaType.dockerManifest
      ? []
      : descriptorList(m.layers, 'layers');
    const children: ManifestChild[] = [{ digest: config.digest, kind: 'blob', size: config.size }];
    for (const layer of layers) {
      const foreign = foreignLayerTypes.has(layer.mediaType) || (layer.urls?.length ?? 0) > 0;
      if (!foreign) children.push({ digest: layer.digest, kind: 'blob', size: layer.size });
    }
    return {
      mediaType,
      children,
      config,
      // Referrers report an image's config media type when it names no artifactType (OCI 1.1).
      artifactType: artifactTypeField ?? config.mediaType,
      subject,
      annotations,
    };
  }

  // Other JSON artifacts (e.g. the withdrawn OCI artifact manifest) may list blobs.
  const blobs = m.blobs === undefined ? [] : descriptorList(m.blobs, 'blobs');
  return {
    mediaType,
    children: blobs.map((d) => ({ digest: d.digest, kind: 'blob' as const, size: d.size })),
    config: null,
    artifactType: artifactTypeField,
    subject,
    annotations,
  };
}
