import { Gauge } from 'prom-client';
import type { RepositoryMetadataStore, RepositoryStorage, StorageFigures } from '../metadata/repository-metadata-store.js';
import type { RegistryMetrics } from './metrics.js';

/** Scrapes within this long of the last computation reuse it: the figures read every reference. */
const cacheMs = 30_000;

/**
 * Storage accounting gauges: bytes referenced, unique and shared, for the registry and per
 * repository (label `repository`). Computed at scrape, at most every 30 s, because the query
 * reads every manifest reference of the registry.
 */
export function registerStorageMetrics(metrics: RegistryMetrics, store: RepositoryMetadataStore): void {
  interface Figures { at: number; registry: StorageFigures; repositories: RepositoryStorage[] }
  let cached: Figures | null = null;
  let computing: Promise<Figures> | null = null;
  const figures = (): Promise<Figures> => {
    if (cached && Date.now() - cached.at < cacheMs) return Promise.resolve(cached);
    computing ??= Promise.all([store.registryStorage(), store.repositoryStorage()])
      .then(([registry, repositories]): Figures => (cached = { at: Date.now(), registry, repositories }))
      .finally(() => (computing = null));
    return computing;
  };
  const registers = [metrics.registry];
  const kinds = [
    ['referenced', 'referencedBytes', 'Bytes of distinct manifests and blobs referenced'],
    ['unique', 'uniqueBytes', 'Bytes referenced by exactly one repository'],
    ['shared', 'sharedBytes', 'Bytes referenced by more than one repository (counted once for the registry)'],
  ] as const;
  for (const [name, field, help] of kinds) {
    new Gauge({
      name: `berth_registry_${name}_bytes`,
      help: `${help} (registry)`,
      registers,
      async collect() {
        this.set((await figures()).registry[field]);
      },
    });
    new Gauge({
      name: `berth_repository_${name}_bytes`,
      help: `${help} (per repository)`,
      labelNames: ['repository'],
      registers,
      async collect() {
        this.reset();
        for (const r of (await figures()).repositories) this.set({ repository: r.repository }, r[field]);
      },
    });
  }
}
