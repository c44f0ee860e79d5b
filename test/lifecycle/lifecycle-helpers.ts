import type { PurgeResult } from '../../src/lifecycle/purge-service.js';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { adminCredentials, type BerthProcess } from '../helpers/berth-process.js';
import { api } from '../helpers/management.js';
import { mediaTypes, OciClient, sha256, type Descriptor } from '../helpers/oci-client.js';

/** What the purge API answers (the service's result as JSON). */
export type PurgeAnswer = PurgeResult;

export async function purge(berth: BerthProcess, body: Record<string, unknown>, credentials = adminCredentials): Promise<{ status: number; body: PurgeAnswer }> {
  return api<PurgeAnswer>(berth.url, credentials, 'POST', '/api/v1/purge', body);
}

export async function manifestStatus(client: OciClient, repository: string, reference: string): Promise<number> {
  const res = await client.request('GET', `/v2/${repository}/manifests/${reference}`, { headers: { Accept: [mediaTypes.ociManifest, mediaTypes.ociIndex, mediaTypes.dockerManifest].join(', ') } });
  await res.arrayBuffer();
  return res.status;
}

export async function tagsOf(client: OciClient, repository: string): Promise<string[]> {
  const res = await client.request('GET', `/v2/${repository}/tags/list`);
  if (res.status !== 200) return [];
  return ((await res.json()) as { tags: string[] | null }).tags ?? [];
}

/** Pushes an image by digest (untagged) and returns its descriptor, as an index entry names it. */
export async function pushUntagged(client: OciClient, repository: string, platform: { os: string; architecture: string }, layer?: string): Promise<Descriptor & { manifest: object }> {
  const config = await client.pushBlob(repository, JSON.stringify({ ...platform, rootfs: { type: 'layers', diff_ids: [] }, salt: Math.random() }));
  const layerBlob = await client.pushBlob(repository, layer ?? `layer ${Math.random()}`);
  const manifest = { schemaVersion: 2, mediaType: mediaTypes.ociManifest, config: { ...config, mediaType: mediaTypes.ociConfig }, layers: [{ ...layerBlob, mediaType: mediaTypes.ociLayer }] };
  const body = JSON.stringify(manifest);
  await client.pushManifest(repository, sha256(body), manifest);
  return { mediaType: mediaTypes.ociManifest, digest: sha256(body), size: Buffer.byteLength(body), platform, manifest };
}

/** Files under the data dir's blob folder (what the collector must really remove). */
export function blobFiles(dataDir: string): string[] {
  const root = join(dataDir, 'blobs');
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else found.push(name);
    }
  };
  try {
    walk(root);
  } catch {
    // no blobs yet
  }
  return found;
}
