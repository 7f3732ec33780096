/** A limit: at most `limit` requests per `windowMs` for one identifier. */
export interface RateLimitPolicy {
  /** Namespaces identifiers so policies never share counters ("login:ip", "tier:free"). */
  name: string;
  limit: number;
  windowMs: number;
}

export interface RateLimitResult {
  success: boolean;
  limit: number;
  remaining: number;
  /** Unix time in ms when the window frees up again. */
  reset: number;
}

export interface RateLimiter {
  readonly kind: "memory" | "upstash";
  limit(policy: RateLimitPolicy, identifier: string): Promise<RateLimitResult>;
}

/** Seconds a refused client should wait, for `Retry-After` (at least 1). */
export function retryAfterSeconds(result: RateLimitResult, now = Date.now()): number {
  return Math.max(1, Math.ceil((result.reset - now) / 1000));
}

export function rateLimitHeaders(result: RateLimitResult): Record<string, string> {
  return {
    "X-RateLimit-Limit": String(result.limit),
    "X-RateLimit-Remaining": String(Math.max(0, result.remaining)),
    "X-RateLimit-Reset": String(Math.ceil(result.reset / 1000)),
  };
}
