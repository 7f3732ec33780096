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

describe("rate limiter: in-process, on its own clock", () => {
  it("slides: each admission leaves the window exactly its length after it was made, and the log is read from its front", async () => {
    let now = 1_000_000;
    const limiter = new MemoryRateLimiter(() => now);
    const limit = { name: "slide", limit: 3, windowMs: 1_000 };
    const at = async (time: number) => {
      now = time;
      return limiter.limit(limit, "k");
    };
    // Three admitted at 0, 400 and 800 ms; the fourth refused until the first has left the window.
    for (const time of [1_000_000, 1_000_400, 1_000_800]) expect((await at(time)).success).toBe(true);
    expect(await at(1_000_900)).toMatchObject({ success: false, remaining: 0, reset: 1_001_000 });
    expect((await at(1_000_999)).success).toBe(false);
    // Exactly a window after it, an admission has left it.
    expect(await at(1_001_000)).toMatchObject({ success: true, remaining: 0, reset: 1_001_400 });
    expect((await at(1_001_399)).success).toBe(false);
    expect(await at(1_001_400)).toMatchObject({ success: true, remaining: 0, reset: 1_001_800 });
    // Past every admission's window: empty again.
    expect(await at(1_010_000)).toMatchObject({ success: true, remaining: 2, reset: 1_011_000 });
  });

  it("answers a long, uneven run of requests exactly as filtering the whole log would", async () => {
    let now = 0;
    const limiter = new MemoryRateLimiter(() => now);
    const limit = { name: "long", limit: 2_000, windowMs: 5_000 };
    // The reference: the whole log filtered on every request (what this limiter answered before).
    let reference: number[] = [];
    let seed = 7;
    let admitted = 0;
    for (let request = 0; request < 40_000; request += 1) {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
      now += (seed >>> 16) % 4; // 0 to 3 ms apart: bursts and pauses, several requests in one millisecond
      reference = reference.filter((time) => time > now - limit.windowMs);
      const expected = reference.length < limit.limit;
      if (expected) reference.push(now);
      const result = await limiter.limit(limit, "busy");
      expect({ success: result.success, remaining: result.remaining, reset: result.reset }, `request ${request} at ${now} ms`).toEqual({
        success: expected,
        remaining: limit.limit - reference.length,
        reset: (reference[0] ?? now) + limit.windowMs,
      });
      if (result.success) admitted += 1;
    }
    // Far more asked than allowed, and the log compacted many times over (2,000 a window, 12 windows).
    expect(admitted).toBeGreaterThan(20_000);
    expect(admitted).toBeLessThan(30_000);
  });
});
