import { EventEmitter } from 'node:events';

/**
 * What happened in the registry, for whoever cares (webhooks, task triggers, audit, metrics).
 * The registry only emits; subscribers must not throw or block.
 */
export interface RegistryEventMap {
  'manifest.pushed': { repository: string; digest: string; tag: string | null; mediaType: string; size: number };
  'manifest.deleted': { repository: string; digest: string };
  'tag.deleted': { repository: string; tag: string };
  'blob.pushed': { repository: string; digest: string; size: number };
  'blob.mounted': { repository: string; digest: string; from: string };
  'blob.deleted': { repository: string; digest: string };
}

export class RegistryEvents {
  private readonly emitter = new EventEmitter();

  emit<K extends keyof RegistryEventMap>(name: K, event: RegistryEventMap[K]): void {
    this.emitter.emit(name, event);
  }

  on<K extends keyof RegistryEventMap>(name: K, listener: (event: RegistryEventMap[K]) => void): () => void {
    this.emitter.on(name, listener);
    return () => this.emitter.off(name, listener);
  }
}
