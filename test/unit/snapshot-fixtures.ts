import type { SnapshotManifest, SnapshotTag } from '../../src/lifecycle/purge-plan.js';

/** A plain untagged OCI image manifest of a planner snapshot, pushed at `updatedAt`. */
export const snapshotManifest = (digest: string, updatedAt: string, extra: Partial<SnapshotManifest> = {}): SnapshotManifest => ({
  digest,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  size: 100,
  updatedAt,
  untaggedAt: null,
  subject: null,
  childManifests: [],
  blobs: [],
  lastPulledAt: null,
  locked: false,
  ...extra,
});

export const snapshotTag = (name: string, digest: string, updatedAt: string, extra: Partial<SnapshotTag> = {}): SnapshotTag => ({ name, digest, updatedAt, lastPulledAt: null, locked: false, ...extra });
