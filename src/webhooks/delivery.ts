import { setTimeout as delay } from 'node:timers/promises';
import type { FastifyBaseLogger } from 'fastify';
import type { Reschedule, WorkContext, WorkHandler } from '../background/background-worker.js';
import type { WorkItem } from '../background/work-queue.js';
import { egressRefusal, type EgressPolicy } from '../network/egress.js';
import type { DeliveryRecord, WebhookStore } from './webhook-store.js';

export interface DeliveryPolicy {
  /** Per attempt. */
  timeoutMs: number;
  /** First retry delay; doubles each attempt up to maxBackoffMs. */
  initialBackoffMs: number;
  maxBackoffMs: number;
  /** A delivery still failing this long after its event is given up (marked failed). */
  giveUpAfterMs: number;
  /** How soon new or due deliveries are noticed when nothing wakes the outbox. */
  pollIntervalMs: number;
}

export const defaultDeliveryPolicy: DeliveryPolicy = {
  timeoutMs: 10_000,
  initialBackoffMs: 1_000,
  maxBackoffMs: 5 * 60_000,
  giveUpAfterMs: 24 * 3600_000,
  pollIntervalMs: 1_000,
};

export interface AttemptResult {
  ok: boolean;
  status: number | null;
  reason: string | null;
  headers: Record<string, string> | null;
  body: string | null;
  error: string | null;
}

/** What list-events keeps of a receiver's answer (it is shown to the webhook's owner, on purpose). */
const maxStoredResponse = 16 * 1024;

/**
 * One POST of a stored request; never throws. Through the egress policy (a refused address is
 * the attempt's error); redirects are not followed (a 3xx is a failed attempt), and receivers see
 * exactly the stored headers plus Host, Content-Length and Connection.
 */
export async function attemptDelivery(
  delivery: Pick<DeliveryRecord, 'requestUri' | 'requestHeaders' | 'requestBody'>,
  timeoutMs: number,
  egress: EgressPolicy,
): Promise<AttemptResult> {
  const failed = (error: string): AttemptResult => ({ ok: false, status: null, reason: null, headers: null, body: null, error });
  let url: URL;
  try {
    url = new URL(delivery.requestUri);
    egress.checkUrl(url);
  } catch (error) {
    return failed(egressRefusal(error)?.message ?? 'invalid URI');
  }
  try {
    const body = Buffer.from(delivery.requestBody);
    const res = await egress.request(url, {
      method: 'POST',
      headers: { ...delivery.requestHeaders, 'Content-Length': String(body.length) },
      body,
      signal: AbortSignal.timeout(timeoutMs),
    });
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body) {
      chunks.push(chunk as Buffer);
      size += (chunk as Buffer).length;
      if (size >= maxStoredResponse) break; // the rest is not kept, so not read
    }
    res.body.destroy();
    const status = res.statusCode;
    const headers = Object.fromEntries(Object.entries(res.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : (v ?? '')]));
    return {
      ok: status >= 200 && status < 300,
      status,
      reason: res.statusText || null,
      headers,
      body: Buffer.concat(chunks).subarray(0, maxStoredResponse).toString('utf8'),
      error: null,
    };
  } catch (error) {
    const refusal = egressRefusal(error);
    if (refusal) return failed(refusal.message);
    if ((error as Error).name === 'TimeoutError' || (error as Error).name === 'AbortError') return failed('timed out');
    return failed((error as NodeJS.ErrnoException).code ?? (error as Error).message);
  }
}

export const webhookOutboxKind = 'webhook-outbox';

/**
 * Drains the outbox as one recurring item of the work queue, so with several servers one of them
 * delivers at a time and another takes over when its lease runs out. While it holds the item, each
 * webhook's oldest pending delivery is sent when due, one at a time per webhook (events reach a
 * receiver in order) and webhooks side by side (a slow receiver delays only its own events);
 * failures back off exponentially. Apart from the request path, so a dead receiver never slows a
 * push.
 */
export class WebhookOutbox implements WorkHandler {
  readonly kind = webhookOutboxKind;
  readonly leaseSeconds = 60;
  /** How long one claim goes on delivering before it gives the item back (and another server may take it). */
  private readonly holdMs = 30_000;

  constructor(
    private readonly store: WebhookStore,
    private readonly egress: EgressPolicy,
    private readonly log: FastifyBaseLogger,
    private readonly policy: DeliveryPolicy = defaultDeliveryPolicy,
  ) {}

  async handle(_item: WorkItem, context: WorkContext): Promise<Reschedule> {
    const lanes = new Map<string, Promise<void>>();
    const giveBackAt = Date.now() + this.holdMs;
    let renewedAt = Date.now();
    let holding = true;
    let nextDue = Infinity;
    for (;;) {
      const now = Date.now();
      const starting = holding && now < giveBackAt && !context.signal.aborted;
      nextDue = Infinity;
      for (const delivery of await this.store.nextPending()) {
        if (lanes.has(delivery.webhook)) continue;
        const due = Date.parse(delivery.nextAttemptAt);
        if (due > now || !starting) {
          nextDue = Math.min(nextDue, due);
          continue;
        }
        const lane = this.deliver(delivery)
          .catch((error: unknown) => this.log.error({ err: error, webhook: delivery.webhook }, 'webhook delivery not recorded'))
          .finally(() => lanes.delete(delivery.webhook));
        lanes.set(delivery.webhook, lane);
      }
      if (lanes.size === 0) break;
      // A lane ending frees its webhook's next delivery; the poll picks up new events meanwhile.
      await Promise.race([...lanes.values(), delay(this.policy.pollIntervalMs)]);
      if (holding && Date.now() - renewedAt > (this.leaseSeconds * 1000) / 3) {
        holding = await context.renew();
        renewedAt = Date.now();
      }
    }
    // New deliveries wake the item early (see wake); the short recheck covers one enqueued while
    // this claim was ending, which that wake could not move.
    return { runAt: new Date(Math.min(nextDue, Date.now() + this.policy.pollIntervalMs)) };
  }

  private async deliver(delivery: DeliveryRecord): Promise<void> {
    const result = await attemptDelivery(delivery, this.policy.timeoutMs, this.egress);
    const attempts = delivery.attempts + 1;
    const now = Date.now();
    const common = {
      attempts,
      lastAttemptAt: new Date(now).toISOString(),
      responseStatus: result.status,
      responseReason: result.reason,
      responseHeaders: result.headers,
      responseBody: result.body,
      error: result.error,
    };
    if (result.ok) {
      await this.store.recordAttempt(delivery.id, { ...common, status: 'delivered' });
      return;
    }
    const giveUp = now - Date.parse(delivery.createdAt) > this.policy.giveUpAfterMs;
    const backoff = Math.min(this.policy.maxBackoffMs, this.policy.initialBackoffMs * 2 ** (attempts - 1));
    await this.store.recordAttempt(delivery.id, {
      ...common,
      status: giveUp ? 'failed' : 'pending',
      nextAttemptAt: new Date(now + backoff).toISOString(),
    });
    this.log.warn({ webhook: delivery.webhook, delivery: delivery.id, attempts, status: result.status, error: result.error, giveUp }, 'webhook delivery failed');
  }
}
