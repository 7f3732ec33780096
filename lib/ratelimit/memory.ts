import type { RateLimiter, RateLimitPolicy, RateLimitResult } from "./types";

/**
 * In-process sliding-window log: exact under concurrency within one process (JavaScript runs the
 * check-and-add without interruption). The embedded default; a deployment with several
 * instances uses Upstash instead, since each process would count alone.
 */
export class MemoryRateLimiter implements RateLimiter {
  readonly kind = "memory" as const;
  private readonly hits = new Map<string, number[]>();
  private sweeps = 0;

  constructor(private readonly now: () => number = Date.now) {}

  async limit(policy: RateLimitPolicy, identifier: string): Promise<RateLimitResult> {
    const now = this.now();
    const key = `${policy.name}:${identifier}`;
    const since = now - policy.windowMs;
    const log = (this.hits.get(key) ?? []).filter((time) => time > since);
    const success = log.length < policy.limit;
    if (success) log.push(now);
    this.hits.set(key, log);
    if (++this.sweeps % 1000 === 0) this.sweep(now);
    const oldest = log[0] ?? now;
    return { success, limit: policy.limit, remaining: policy.limit - log.length, reset: oldest + policy.windowMs };
  }

  /** Forgets identifiers whose window is long over, so memory follows active clients only. */
  private sweep(now: number): void {
    for (const [key, log] of this.hits) if ((log.at(-1) ?? 0) < now - 3_600_000) this.hits.delete(key);
  }
}
