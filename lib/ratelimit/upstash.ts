import { Ratelimit } from "@upstash/ratelimit";
import { Redis } from "@upstash/redis";
import type { RateLimiter, RateLimitPolicy, RateLimitResult } from "./types";

/** `@upstash/ratelimit` (sliding window) on Upstash Redis: one count shared by every instance. */
export class UpstashRateLimiter implements RateLimiter {
  readonly kind = "upstash" as const;
  private readonly redis: Redis;
  private readonly limiters = new Map<string, Ratelimit>();

  constructor(config: { url: string; token: string }) {
    this.redis = new Redis({ url: config.url, token: config.token, enableTelemetry: false });
  }

  async limit(policy: RateLimitPolicy, identifier: string): Promise<RateLimitResult> {
    const { success, limit, remaining, reset } = await this.limiterFor(policy).limit(identifier);
    return { success, limit, remaining, reset };
  }

  async ping(): Promise<void> {
    await this.redis.ping();
  }

  private limiterFor(policy: RateLimitPolicy): Ratelimit {
    const key = `${policy.name}:${policy.limit}:${policy.windowMs}`;
    let limiter = this.limiters.get(key);
    if (!limiter) {
      limiter = new Ratelimit({
        redis: this.redis,
        limiter: Ratelimit.slidingWindow(policy.limit, `${policy.windowMs} ms`),
        prefix: `tdk:rl:${policy.name}`,
        analytics: false,
        enableProtection: false,
      });
      this.limiters.set(key, limiter);
    }
    return limiter;
  }
}
