import { beforeAll, describe, expect, it } from "vitest";
import * as health from "@/app/api/health/route";
import * as live from "@/app/api/health/live/route";
import * as login from "@/app/api/tdk/auth/login/route";
import { authLimits } from "@/lib/ratelimit/policies";
import type { AppContext } from "@/lib/context";
import { setAppContext } from "@/lib/context";
import { clientIp } from "@/lib/http/request";
import { HEALTH_TTL_MS, healthReport } from "@/lib/ops/health";
import { callRoute, createTestApp } from "../helpers/app";

const CRON_SECRET = "cron-secret-for-health-tests-0123";
let app: AppContext;
beforeAll(async () => {
  app = await createTestApp({ env: { CRON_SECRET } });
});

describe("GET /api/health/live", () => {
  it("answers 200 {status: ok} without touching any part, even with no app context at all", async () => {
    setAppContext(null);
    try {
      const res = live.GET();
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ status: "ok" });
    } finally {
      setAppContext(app);
    }
  });
});

describe("GET /api/health", () => {
  it("shows only the status to the public; the parts and the treasury to Bearer $CRON_SECRET", async () => {
    const anyone = await callRoute(health.GET, "GET", "/api/health");
    expect(anyone.status).toBe(200);
    expect(Object.keys(anyone.json).sort()).toEqual(["checked_at", "status"]);
    const wrong = await callRoute(health.GET, "GET", "/api/health", { bearer: "not-the-cron-secret-0000000" });
    expect(Object.keys(wrong.json).sort()).toEqual(["checked_at", "status"]);
    const operator = await callRoute(health.GET, "GET", "/api/health", { bearer: CRON_SECRET });
    expect(operator.json).toMatchObject({ status: "ok", database: { status: "ok" }, ledger: { status: "ok" }, treasury: { status: "ok" } });
  });

  it("checks the parts at most every 30 s: requests within that time share one check", async () => {
    const fresh = { ...app };
    const first = await healthReport(fresh, 1_000);
    const again = await healthReport(fresh, 1_000 + HEALTH_TTL_MS - 1);
    expect(again).toBe(first);
    const later = await healthReport(fresh, 1_000 + HEALTH_TTL_MS);
    expect(later).not.toBe(first);
  });
});

describe("the client's IP", () => {
  const headers = (values: Record<string, string>) => new Headers(values);

  it("trusts Vercel's headers by default, and with TRUSTED_PROXY_HOPS only what our own proxies appended", () => {
    const spoofed = { "x-forwarded-for": "6.6.6.6, 203.0.113.9", "x-real-ip": "203.0.113.9" };
    expect(clientIp(headers({ "x-vercel-forwarded-for": "198.51.100.1", ...spoofed }), null)).toBe("198.51.100.1");
    expect(clientIp(headers(spoofed), null)).toBe("203.0.113.9");
    // One proxy of ours appends the address it saw: the last entry; what the client wrote is left of it.
    expect(clientIp(headers(spoofed), 1)).toBe("203.0.113.9");
    expect(clientIp(headers({ "x-forwarded-for": "6.6.6.6, 192.0.2.1, 203.0.113.9" }), 2)).toBe("192.0.2.1");
    expect(clientIp(headers({ "x-forwarded-for": "203.0.113.9" }), 2)).toBe("unknown");
    // No proxy: no header is believed.
    expect(clientIp(headers(spoofed), 0)).toBe("direct");
  });

  it("behind one proxy, rotating a forged first X-Forwarded-For hop does not escape the per-IP log-in limit", async () => {
    // A context behind one proxy of ours (createTestApp makes it the current one).
    await createTestApp({ env: { TRUSTED_PROXY_HOPS: "1" } });
    try {
      const statuses: number[] = [];
      // 30 log-ins per IP per 15 minutes: the 31st is refused whatever the first hop says.
      expect(authLimits.loginPerIp.limit).toBe(30);
      for (let i = 0; i < 31; i += 1) {
        const res = await callRoute(login.POST, "POST", "/", {
          body: { email: `nobody-${i}@example.com`, password: "wrong-password-1" },
          headers: { "x-forwarded-for": `10.0.0.${i}, 203.0.113.77` },
        });
        statuses.push(res.status);
      }
      expect(statuses.slice(0, 30).every((status) => status === 401)).toBe(true);
      expect(statuses[30]).toBe(429);
    } finally {
      setAppContext(app);
    }
  });
});
