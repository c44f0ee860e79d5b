import type { FastifyBaseLogger } from 'fastify';
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

/**
 * Drains the outbox: for each webhook, its oldest pending delivery is sent when due, so events
 * reach a receiver in order; failures back off exponentially. Runs apart from the request path,
 * so a slow or dead receiver never slows a push.
 */
export class WebhookDispatcher {
  private timer: NodeJS.Timeout | null = null;
  private readonly inFlight = new Map<string, Promise<void>>();
  private running = false;
  private wakeRequested = false;

  constructor(
    private readonly store: WebhookStore,
    private readonly egress: EgressPolicy,
    private readonly log: FastifyBaseLogger,
    private readonly policy: DeliveryPolicy = defaultDeliveryPolicy,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.wake(), this.policy.pollIntervalMs);
    this.timer.unref();
    this.wake();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await Promise.allSettled(this.inFlight.values());
  }

  /** Looks for due deliveries now (called when an event is enqueued). */
  wake(): void {
    if (this.running) {
      this.wakeRequested = true;
      return;
    }
    this.running = true;
    this.pass()
      .catch((error: unknown) => this.log.error({ err: error }, 'webhook dispatch failed'))
      .finally(() => {
        this.running = false;
        if (this.wakeRequested && this.timer) {
          this.wakeRequested = false;
          this.wake();
        }
      });
  }

  private async pass(): Promise<void> {
    const now = Date.now();
    for (const delivery of await this.store.nextPending()) {
      if (this.inFlight.has(delivery.webhook) || Date.parse(delivery.nextAttemptAt) > now) continue;
      const work = this.deliver(delivery).finally(() => {
        this.inFlight.delete(delivery.webhook);
        this.wake();
      });
      this.inFlight.set(delivery.webhook, work);
    }
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
