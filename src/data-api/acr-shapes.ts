import type { ChangeableAttributes, ManifestDetail, RepositoryDetail, RepositoryStorage, TagDetail } from '../metadata/repository-metadata-store.js';

/**
 * ACR's JSON shapes (its swagger's field names), plus Berth's own fields: pull statistics on
 * tags and manifests (`lastPulledTime`, `pullCount`) and storage figures on repositories.
 */
export function changeableAttributes(a: ChangeableAttributes): ChangeableAttributes {
  return { deleteEnabled: a.deleteEnabled, writeEnabled: a.writeEnabled, readEnabled: a.readEnabled, listEnabled: a.listEnabled };
}

export function repositoryShape(registry: string, r: RepositoryDetail, storage: RepositoryStorage | undefined) {
  return {
    registry,
    imageName: r.name,
    createdTime: r.createdAt,
    lastUpdateTime: r.updatedAt,
    manifestCount: r.manifestCount,
    tagCount: r.tagCount,
    changeableAttributes: changeableAttributes(r.attributes),
    storage: {
      referencedBytes: storage?.referencedBytes ?? 0,
      uniqueBytes: storage?.uniqueBytes ?? 0,
      sharedBytes: storage?.sharedBytes ?? 0,
    },
  };
}

export function tagShape(t: TagDetail) {
  return {
    name: t.name,
    digest: t.digest,
    createdTime: t.createdAt,
    lastUpdateTime: t.updatedAt,
    signed: false,
    changeableAttributes: changeableAttributes(t.attributes),
    lastPulledTime: t.lastPulledAt,
    pullCount: t.pullCount,
  };
}

export function manifestShape(m: ManifestDetail) {
  return {
    digest: m.digest,
    imageSize: m.imageSize,
    createdTime: m.createdAt,
    lastUpdateTime: m.updatedAt,
    ...(m.architecture ? { architecture: m.architecture } : {}),
    ...(m.os ? { os: m.os } : {}),
    ...(m.references.length > 0
      ? { references: m.references.map((r) => ({ digest: r.digest, ...(r.architecture ? { architecture: r.architecture } : {}), ...(r.os ? { os: r.os } : {}) })) }
      : {}),
    mediaType: m.mediaType,
    ...(m.configMediaType ? { configMediaType: m.configMediaType } : {}),
    ...(m.artifactType ? { artifactType: m.artifactType } : {}),
    ...(m.subjectDigest ? { subject: m.subjectDigest } : {}),
    tags: m.tags,
    changeableAttributes: changeableAttributes(m.attributes),
    lastPulledTime: m.lastPulledAt,
    pullCount: m.pullCount,
  };
}
