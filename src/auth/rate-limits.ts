export interface RateLimit {
  requestsPerSecond: number;
  burst: number;
}

export type RequestCategory = 'read' | 'write' | 'delete';

/** ACR's published per-identity limits (requests per minute), as opt-in presets. */
export const acrPresets = {
  'acr-standard': { read: 5000, write: 1000, delete: 500 },
  'acr-premium': { read: 10000, write: 2000, delete: 2000 },
} as const satisfies Record<string, Record<RequestCategory, number>>;
export type RateLimitPreset = keyof typeof acrPresets;

export interface RateLimitPolicy {
  /** Per signed-in identity; 0 requests per second is no limit (the default). */
  authenticated: RateLimit;
  /** Per client address, for callers without credentials. */
  anonymous: RateLimit;
  /** ACR's per-identity figures by request category, instead of `authenticated`. */
  preset: RateLimitPreset | null;
}

export function requestCategory(method: string): RequestCategory {
  if (method === 'GET' || method === 'HEAD' || method === 'OPTIONS') return 'read';
  return method === 'DELETE' ? 'delete' : 'write';
}

/**
 * Which bucket a request draws from. Signed-in callers are not limited unless the operator asks
 * (one CI job or a cluster sharing a pull secret is one identity doing a lot, legitimately);
 * anonymous callers share nothing but their address, so each address has a bucket.
 */
export class RequestRateLimits {
  private readonly anonymous: TokenBucketLimiter;
  private readonly authenticated: Map<RequestCategory | 'any', TokenBucketLimiter>;

  constructor(policy: RateLimitPolicy) {
    this.anonymous = new TokenBucketLimiter(policy.anonymous.requestsPerSecond, policy.anonymous.burst);
    this.authenticated = new Map();
    if (policy.preset) {
      for (const [category, perMinute] of Object.entries(acrPresets[policy.preset])) {
        // A minute's allowance as the burst, refilled continuously: ACR's token bucket.
        this.authenticated.set(category as RequestCategory, new TokenBucketLimiter(perMinute / 60, perMinute));
      }
    } else {
      this.authenticated.set('any', new TokenBucketLimiter(policy.authenticated.requestsPerSecond, policy.authenticated.burst));
    }
  }

  /** 0 when the request may go ahead, else the seconds to wait. */
  take(caller: { anonymous: true; address: string } | { anonymous: false; identity: string }, method: string): number {
    if (caller.anonymous) return this.anonymous.take(`ip:${caller.address}`);
    const category = requestCategory(method);
    const limiter = this.authenticated.get(category) ?? this.authenticated.get('any');
    return limiter ? limiter.take(caller.identity) : 0;
  }
}

/** A token bucket per key, refilled continuously (as ACR throttles). */
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
