import { createHash } from 'node:crypto';
import type { WorkHandler } from '../background/background-worker.js';
import { RetryLater } from '../background/background-worker.js';
import type { WorkItem, WorkQueue } from '../background/work-queue.js';
import { parseSourceReference } from '../import/image-reference.js';
import { RateLimited, RemoteRegistry, type RemoteCredentials } from '../import/remote-registry.js';
import type { EgressPolicy } from '../network/egress.js';
import type { BaseImageStore, ImageName } from './base-image-store.js';
import { imageKey } from './base-image-store.js';
import type { ImageUpdateTrigger } from './image-update-trigger.js';

export const basePollKind = 'base-poll';

interface PollState {
  image: ImageName;
  /** What the last successful poll saw. */
  lastDigest: string | null;
  /** Failures in a row (the back-off grows with them). */
  failures: number;
}

/** ±20%, so that many images added at once do not poll in lockstep. */
const jittered = (seconds: number): number => seconds * 1000 * (0.8 + Math.random() * 0.4);
const maxBackoffSeconds = 3600;

/**
 * Polls the digest behind each distinct image in another registry that some task depends on:
 * one work item per (registry, repository, tag), however many tasks depend on it, so one HEAD
 * per interval each. Errors back off (doubling, up to an hour; a 429's Retry-After when longer)
 * and are shown on the tasks that depend on the image.
 */
export class UpstreamPoller implements WorkHandler {
  readonly kind = basePollKind;
  readonly leaseSeconds = 120;
  /**
   * A client per image and login, kept between polls so its bearer token is reused until the
   * registry refuses it: one HEAD per poll instead of a challenge, a token and a HEAD.
   */
  private readonly clients = new Map<string, RemoteRegistry>();

  constructor(
    private readonly queue: WorkQueue,
    private readonly bases: BaseImageStore,
    private readonly trigger: ImageUpdateTrigger,
    /** A login for the registry from one of the dependent tasks' credentials (`task credential add`). */
    private readonly credentialsFor: (tasks: string[], registry: string) => Promise<RemoteCredentials | null>,
    private readonly egress: EgressPolicy,
    private readonly intervalSeconds: number,
    private readonly isLocal: (registry: string) => boolean,
  ) {}

  /** Makes sure each remote image the task depends on is polled (the first poll within one interval). */
  async watch(images: ImageName[]): Promise<void> {
    for (const image of images) {
      if (this.isLocal(image.registry)) continue;
      const state: PollState = { image, lastDigest: null, failures: 0 };
      await this.queue.ensureRecurring({ kind: basePollKind, key: imageKey(image), payload: state, runAt: new Date(Date.now() + jittered(this.intervalSeconds)).toISOString() });
    }
  }

  private client(image: ImageName, credentials: RemoteCredentials | null): RemoteRegistry {
    const key = `${imageKey(image)} ${credentials?.username ?? ''} ${credentials ? createHash('sha256').update(credentials.password).digest('hex') : ''}`;
    let client = this.clients.get(key);
    if (!client) {
      // Old logins (a changed password) are dropped with their image's other clients.
      for (const old of [...this.clients.keys()].filter((k) => k.startsWith(`${imageKey(image)} `))) this.clients.delete(old);
      client = new RemoteRegistry(parseSourceReference(`${image.registry}/${image.repository}:${image.tag}`), credentials, this.egress);
      this.clients.set(key, client);
    }
    return client;
  }

  async handle(item: WorkItem): Promise<{ runAt: Date; payload: PollState }> {
    const state = item.payload as PollState;
    const { image } = state;
    const dependents = await this.bases.dependents([image.registry], image.repository, image.tag);
    if (dependents.length === 0 || this.isLocal(image.registry)) {
      for (const key of [...this.clients.keys()].filter((k) => k.startsWith(`${item.key} `))) this.clients.delete(key);
      // Nobody depends on it any more: the item goes (its reschedule then finds no row).
      await this.queue.remove(basePollKind, item.key);
      return { runAt: new Date(), payload: state };
    }
    const now = new Date().toISOString();
    let digest: string;
    try {
      const credentials = await this.credentialsFor([...new Set(dependents.map((d) => d.task))], image.registry);
      digest = await this.client(image, credentials).manifestDigest(image.tag);
    } catch (error) {
      const failures = state.failures + 1;
      const backoff = Math.min(maxBackoffSeconds, this.intervalSeconds * 2 ** Math.min(failures, 10));
      const wait = error instanceof RateLimited && error.retryAfterSeconds !== null ? Math.max(backoff, error.retryAfterSeconds) : backoff;
      const message = (error as Error).message;
      await this.bases.markChecked(image, now, message);
      throw new RetryLater(message, new Date(Date.now() + jittered(wait)), { ...state, failures });
    }
    await this.bases.markChecked(image, now, null);
    await this.trigger.upstreamDigest(image, digest, state.lastDigest);
    return { runAt: new Date(Date.now() + jittered(this.intervalSeconds)), payload: { image, lastDigest: digest, failures: 0 } };
  }
}
