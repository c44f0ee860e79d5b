import { EventEmitter } from 'node:events';
import type { JournalEntry } from '../metadata/metadata-store.js';
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

/**
 * Changes to content go through the journal: written in the change's own transaction, then
 * delivered in order, at least once (a crash between commit and delivery delays, never loses).
 */
export type JournaledEventName = 'manifest.pushed' | 'manifest.deleted' | 'tag.deleted';

/**
 * The registry's events. Journaled ones reach listeners through a JournalConsumer (which waits for
 * listeners that return promises before moving on); the others are emitted in memory at once.
 */
export class RegistryEvents {
  private readonly emitter = new EventEmitter();

  emit<K extends Exclude<keyof RegistryEventMap, JournaledEventName>>(name: K, event: RegistryEventMap[K]): void {
    this.emitter.emit(name, { ...event, request: currentRequestContext() });
  }

  on<K extends keyof RegistryEventMap>(name: K, listener: (event: RegistryEvent<K>) => void | Promise<void>): () => void {
    this.emitter.on(name, listener);
    return () => this.emitter.off(name, listener);
  }

  /** The journal entry for a change, with the request it happens in; the store writes it. */
  journalEntry<K extends JournaledEventName>(name: K, event: RegistryEventMap[K]): JournalEntry {
    return { name, payload: { ...event, request: currentRequestContext() } };
  }

  /** A change with journal entries has committed: wakes the relay. */
  committed(): void {
    this.emitter.emit(committedSignal);
  }

  onCommitted(listener: () => void): void {
    this.emitter.on(committedSignal, listener);
  }

  /** Hands a journaled event to its listeners in turn, waiting for each that returns a promise. */
  async deliver(name: string, event: unknown): Promise<void> {
    for (const listener of this.emitter.listeners(name)) await (listener as (e: unknown) => unknown)(event);
  }
}

const committedSignal = Symbol('journal committed');
