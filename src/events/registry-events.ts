import { EventEmitter } from 'node:events';
import { currentRequestContext, type RequestContext } from './request-context.js';

/**
 * What happened in the registry, for whoever cares (webhooks, task triggers, audit, metrics).
 * The registry only emits; subscribers must not throw or block.
 */
export interface RegistryEventMap {
  /** `previousDigest`: what the tag pointed at before, when this push moved it. */
  'manifest.pushed': { repository: string; digest: string; tag: string | null; mediaType: string; size: number; previousDigest: string | null };
  'manifest.deleted': { repository: string; digest: string; mediaType: string; tags: string[] };
  'tag.deleted': { repository: string; tag: string };
  'blob.pushed': { repository: string; digest: string; size: number };
  'blob.mounted': { repository: string; digest: string; from: string };
  'blob.deleted': { repository: string; digest: string };
  /** A task run changed state (queued, or ended: Succeeded, Failed, Canceled, Error, Timeout). */
  'run.changed': {
    runId: string;
    task: string | null;
    trigger: string;
    status: string;
    outputImages: Array<{ registry: string; repository: string; tag: string; digest: string }>;
  };
}

/** Every event also carries the HTTP request it happened in, when there was one. */
export type RegistryEvent<K extends keyof RegistryEventMap> = RegistryEventMap[K] & { request: RequestContext | null };

export class RegistryEvents {
  private readonly emitter = new EventEmitter();

  emit<K extends keyof RegistryEventMap>(name: K, event: RegistryEventMap[K]): void {
    this.emitter.emit(name, { ...event, request: currentRequestContext() });
  }

  on<K extends keyof RegistryEventMap>(name: K, listener: (event: RegistryEvent<K>) => void): () => void {
    this.emitter.on(name, listener);
    return () => this.emitter.off(name, listener);
  }
}
