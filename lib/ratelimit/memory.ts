import type { RateLimiter, RateLimitPolicy, RateLimitResult } from "./types";

/**
 * In-process sliding-window log: exact under concurrency within one process (JavaScript runs the
 * check-and-add without interruption). The embedded default; a deployment with several
 * instances uses Upstash instead, since each process would count alone.
 *
 * Each identifier's log is its admissions in time order; those that left the window are dropped
 * from its front, so a request costs what left the window since the last one, not the whole log.
 * (It used to filter the whole log into a new array per request: a pro key's 10,000 a minute meant
 * 10,000 timestamps read and copied on each of its requests.) Should the clock step back, entries
 * are dropped from the front only: the count can only be higher than the filter's, never lower.
 */
interface AdmissionLog {
  times: number[];
  /** Index of the oldest admission still in the window. */
  head: number;
}

/** A log's dropped front is cut off once it is this long and at least half the array. */
const COMPACT_AFTER = 1024;

export class MemoryRateLimiter implements RateLimiter {
  readonly kind = "memory" as const;
  private readonly hits = new Map<string, AdmissionLog>();
  private sweeps = 0;

  constructor(private readonly now: () => number = Date.now) {}

  async limit(policy: RateLimitPolicy, identifier: string): Promise<RateLimitResult> {
    const now = this.now();
    const key = `${policy.name}:${identifier}`;
    const since = now - policy.windowMs;
    let log = this.hits.get(key);
    if (!log) this.hits.set(key, (log = { times: [], head: 0 }));
    const { times } = log;
    while (log.head < times.length && times[log.head]! <= since) log.head += 1;
    if (log.head >= COMPACT_AFTER && log.head * 2 >= times.length) {
      times.splice(0, log.head);
      log.head = 0;
    }
    const success = times.length - log.head < policy.limit;
    if (success) times.push(now);
    if (++this.sweeps % 1000 === 0) this.sweep(now);
    const count = times.length - log.head;
    const oldest = times[log.head] ?? now;
    return { success, limit: policy.limit, remaining: policy.limit - count, reset: oldest + policy.windowMs };
  }

  /** Forgets identifiers whose window is long over, so memory follows active clients only. */
  private sweep(now: number): void {
    for (const [key, log] of this.hits) if ((log.times.at(-1) ?? 0) < now - 3_600_000) this.hits.delete(key);
  }
}
