import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MemoryRateLimiter } from "@/lib/ratelimit/memory";
import type { RateLimiter } from "@/lib/ratelimit/types";
import { UpstashRateLimiter } from "@/lib/ratelimit/upstash";
import { startUpstashBridge, testRedisUrl, type UpstashBridge } from "../helpers/upstash-bridge";

/** The same limiter contract, in process and on real Redis through the Upstash REST protocol. */
interface LimiterBackend {
  name: string;
  /** Redis commands the limiter sent (Upstash only): proof the counting happened in Redis. */
  open(): Promise<{ limiter: RateLimiter; close(): Promise<void>; redisCommands?: () => string[][] }>;
}

const redisUrl = testRedisUrl();
const backends: LimiterBackend[] = [
  { name: "in-process", open: async () => ({ limiter: new MemoryRateLimiter(), close: async () => {} }) },
];
if (redisUrl) {
  backends.push({
    name: "Upstash (@upstash/ratelimit → REST bridge → Redis)",
    open: async () => {
      const bridge: UpstashBridge = await startUpstashBridge(redisUrl);
      return {
        limiter: new UpstashRateLimiter({ url: bridge.url, token: bridge.token }),
        close: () => bridge.close(),
        redisCommands: () => bridge.commands,
      };
    },
  });
}

describe.each(backends)("rate limiter: $name", (backend) => {
  let limiter: RateLimiter;
  let close: () => Promise<void>;
  let redisCommands: (() => string[][]) | undefined;
  beforeAll(async () => {
    ({ limiter, close, redisCommands } = await backend.open());
  });
  afterAll(async () => close?.());

  const policy = (limit: number, windowMs = 60_000) => ({ name: `test-${randomBytes(4).toString("hex")}`, limit, windowMs });

  it("admits exactly the limit under 500 concurrent requests", async () => {
    const limit = policy(100);
    const results = await Promise.all(Array.from({ length: 500 }, () => limiter.limit(limit, "client")));
    expect(results.filter((result) => result.success)).toHaveLength(100);
    const refused = results.find((result) => !result.success)!;
    expect(refused).toMatchObject({ limit: 100, remaining: 0 });
    expect(refused.reset).toBeGreaterThan(Date.now());
    if (redisCommands) {
      const scripts = redisCommands().filter(([name]) => /^EVAL(SHA)?$/i.test(name!));
      expect(scripts.length).toBeGreaterThanOrEqual(500);
    }
  });

  it("counts identifiers and policies apart", async () => {
    const limit = policy(2);
    expect((await limiter.limit(limit, "a")).success).toBe(true);
    expect((await limiter.limit(limit, "a")).success).toBe(true);
    expect((await limiter.limit(limit, "a")).success).toBe(false);
    expect((await limiter.limit(limit, "b")).success).toBe(true);
    expect((await limiter.limit(policy(2), "a")).success).toBe(true);
  });

  it("admits again once the window has passed", async () => {
    const limit = policy(1, 1_000);
    expect((await limiter.limit(limit, "c")).success).toBe(true);
    expect((await limiter.limit(limit, "c")).success).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    expect((await limiter.limit(limit, "c")).success).toBe(true);
  });
});
