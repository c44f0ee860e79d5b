/** Per-identity request rate limit: a token bucket refilled continuously (as ACR throttles). */
export class TokenBucketLimiter {
  private readonly buckets = new Map<string, { tokens: number; updated: number }>();

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
  ) {}

  get enabled(): boolean {
    return this.perSecond > 0;
  }

  /** Takes one token for `key`; returns 0 when allowed, else the seconds to wait. */
  take(key: string, now = Date.now()): number {
    if (!this.enabled) return 0;
    const bucket = this.buckets.get(key) ?? { tokens: this.burst, updated: now };
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.updated) / 1000) * this.perSecond);
    bucket.updated = now;
    if (this.buckets.size > 100_000) this.buckets.clear();
    this.buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / this.perSecond));
  }
}

/** Failed logins per client: after `maxFailures` within `windowSeconds`, the client waits it out. */
export class LoginThrottle {
  private readonly failures = new Map<string, { count: number; windowStart: number }>();

  constructor(
    private readonly maxFailures: number,
    private readonly windowSeconds: number,
  ) {}

  /** Seconds the client must wait before trying again, or 0. */
  retryAfter(client: string, now = Date.now()): number {
    const entry = this.failures.get(client);
    if (!entry) return 0;
    const elapsed = (now - entry.windowStart) / 1000;
    if (elapsed >= this.windowSeconds) {
      this.failures.delete(client);
      return 0;
    }
    return entry.count >= this.maxFailures ? Math.ceil(this.windowSeconds - elapsed) : 0;
  }

  recordFailure(client: string, now = Date.now()): void {
    const entry = this.failures.get(client);
    if (!entry || (now - entry.windowStart) / 1000 >= this.windowSeconds) {
      if (this.failures.size > 100_000) this.failures.clear();
      this.failures.set(client, { count: 1, windowStart: now });
    } else {
      entry.count += 1;
    }
  }

  recordSuccess(client: string): void {
    this.failures.delete(client);
  }
}
