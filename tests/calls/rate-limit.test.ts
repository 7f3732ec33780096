import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as call from "@/app/api/tdk/v1/call/route";
import type { AppContext } from "@/lib/context";
import { setAppContext } from "@/lib/context";
import { MemoryRateLimiter } from "@/lib/ratelimit/memory";
import type { RateLimiter } from "@/lib/ratelimit/types";
import { UpstashRateLimiter } from "@/lib/ratelimit/upstash";
import { callRoute, createKeyedAccount, createTestApp } from "../helpers/app";
import { startUpstashBridge, testRedisUrl, type UpstashBridge } from "../helpers/upstash-bridge";

/** The tier limit of POST /api/tdk/v1/call holds exactly under concurrency, in process and on real Redis. */
const redisUrl = testRedisUrl();
const limiters: { name: string; open(): Promise<{ limiter: RateLimiter; close(): Promise<void> }> }[] = [
  { name: "in-process", open: async () => ({ limiter: new MemoryRateLimiter(), close: async () => {} }) },
];
if (redisUrl) {
  limiters.push({
    name: "Upstash on real Redis",
    open: async () => {
      const bridge: UpstashBridge = await startUpstashBridge(redisUrl);
      return { limiter: new UpstashRateLimiter({ url: bridge.url, token: bridge.token }), close: () => bridge.close() };
    },
  });
}

describe.each(limiters)("tier rate limit ($name)", (backend) => {
  let app: AppContext;
  let close: () => Promise<void>;
  beforeAll(async () => {
    const opened = await backend.open();
    close = opened.close;
    // A context of its own with this limiter (the services are built once per context).
    app = { ...(await createTestApp()), limiter: opened.limiter };
    setAppContext(app);
  });
  afterAll(async () => close?.());

  it("admits exactly 100 of 150 concurrent requests of a free key; the rest get 429 with Retry-After", async () => {
    const { apiKey } = await createKeyedAccount(app);
    // Invalid bodies: the limiter counts them like any request, and they cost no payment.
    const answers = await Promise.all(Array.from({ length: 150 }, () => callRoute(call.POST, "POST", "/", { bearer: apiKey, body: {} })));
    const limited = answers.filter((answer) => answer.status === 429);
    expect(answers.filter((answer) => answer.status === 400)).toHaveLength(100);
    expect(limited).toHaveLength(50);
    expect(
      limited.every((answer) => Number(answer.headers.get("retry-after")) >= 1 && answer.headers.get("x-ratelimit-remaining") === "0"),
    ).toBe(true);
    // Another key has its own budget.
    const other = await createKeyedAccount(app);
    expect((await callRoute(call.POST, "POST", "/", { bearer: other.apiKey, body: {} })).headers.get("x-ratelimit-remaining")).toBe("99");
  });

  it("gives paid keys 1,000 per minute", async () => {
    const { apiKey } = await createKeyedAccount(app, { tier: "paid" });
    const answer = await callRoute(call.POST, "POST", "/", { bearer: apiKey, body: {} });
    expect(answer.headers.get("x-ratelimit-limit")).toBe("1000");
  });
});
