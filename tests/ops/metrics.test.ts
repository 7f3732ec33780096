import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { beforeAll, describe, expect, it } from "vitest";
import * as metrics from "@/app/api/metrics/route";
import * as keyRoute from "@/app/api/tdk/keys/[id]/route";
import * as call from "@/app/api/tdk/v1/call/route";
import * as login from "@/app/api/tdk/auth/login/route";
import type { AppContext } from "@/lib/context";
import { callRoute, createKeyedAccount, createTestApp, sql, strongPassword } from "../helpers/app";

const CRON_SECRET = "cron-secret-for-the-metrics-test";
const METRICS_TOKEN = "metrics-token-for-the-metrics-test";
let app: AppContext;

beforeAll(async () => {
  app = await createTestApp({ env: { CRON_SECRET, METRICS_TOKEN } });
});

async function scrape(bearer = METRICS_TOKEN) {
  const res = await callRoute(metrics.GET, "GET", "/api/metrics", { bearer });
  expect(res.status, res.text).toBe(200);
  expect(res.headers.get("content-type")).toContain("text/plain");
  const families = parsePrometheusTextFormat(res.text);
  const family = (name: string) => families.find((candidate) => candidate.name === name);
  const value = (name: string, labels: Record<string, string> = {}) => {
    const sample = family(name)?.metrics.find((metric) => Object.entries(labels).every(([k, v]) => metric.labels?.[k] === v));
    return sample ? Number(sample.value ?? sample.count) : undefined;
  };
  return { family, value, text: res.text };
}

describe("GET /api/metrics", () => {
  it("refuses a request without METRICS_TOKEN or CRON_SECRET, and takes either", async () => {
    for (const bearer of [undefined, "not-the-token-at-all", `${METRICS_TOKEN}x`]) {
      const res = await callRoute(metrics.GET, "GET", "/api/metrics", { bearer });
      expect(res.status).toBe(401);
      expect(res.json.error.code).toBe("unauthorized");
      expect(res.text).not.toContain("tdk_calls_total");
    }
    await scrape(METRICS_TOKEN);
    await scrape(CRON_SECRET);
  });

  it("counts calls by agent and outcome, their latency, cap refusals, pending calls and their age, unreported usage, the treasury", async () => {
    const before = await scrape();
    const succeededBefore = before.value("tdk_calls_total", { agent: "textstats", outcome: "succeeded" }) ?? 0;
    const refusalsBefore = before.value("tdk_cap_refusals_total", { code: "spend_limit_reached" }) ?? 0;
    const latencyBefore = before.value("tdk_call_duration_seconds") ?? 0;
    const requestsBefore = before.value("tdk_request_duration_seconds") ?? 0;

    const caller = await createKeyedAccount(app, { label: "metrics", tier: "paid" });
    for (const text of ["one", "two", "three"]) {
      expect(
        (await callRoute(call.POST, "POST", "/", { bearer: caller.apiKey, body: { agent_id: "textstats", input: { text } } })).status,
      ).toBe(200);
    }
    // A spend limit below the next call's price: refused before anything is paid.
    const session = (await callRoute(login.POST, "POST", "/", { body: { email: caller.email, password: strongPassword } })).json
      .session_token;
    await callRoute(keyRoute.PATCH, "PATCH", "/", {
      bearer: session,
      params: { id: caller.key.id },
      body: { spend_limit_usd: "0.009", spend_limit_period: "day" },
    });
    expect(
      (await callRoute(call.POST, "POST", "/", { bearer: caller.apiKey, body: { agent_id: "textstats", input: { text: "four" } } })).status,
    ).toBe(402);
    // One call left pending for two minutes (as a crash would leave it).
    await sql(
      app.db,
      "update tdk_usage set status = 'pending', settled_at = null, created_at = now() - interval '2 minutes' where id = (select id from tdk_usage where api_key_id = $1 order by created_at limit 1)",
      [caller.key.id],
    );

    const after = await scrape();
    expect(after.family("tdk_calls_total")?.type).toBe("COUNTER");
    expect(after.value("tdk_calls_total", { agent: "textstats", outcome: "succeeded" })).toBe(succeededBefore + 2);
    expect(after.value("tdk_calls_total", { agent: "textstats", outcome: "pending" })).toBeGreaterThanOrEqual(1);
    expect(after.value("tdk_cap_refusals_total", { code: "spend_limit_reached" })).toBe(refusalsBefore + 1);
    expect(after.family("tdk_call_duration_seconds")?.type).toBe("HISTOGRAM");
    // Four paid-call requests (three succeeded, one refused); every request, the scrape before included.
    expect(after.value("tdk_call_duration_seconds")).toBe(latencyBefore + 4);
    expect(after.value("tdk_request_duration_seconds")).toBeGreaterThanOrEqual(requestsBefore + 7);
    const buckets = after.family("tdk_call_duration_seconds")!.metrics[0]!.buckets!;
    expect(Number(buckets["+Inf"])).toBe(latencyBefore + 4);
    expect(after.value("tdk_pending_calls")).toBeGreaterThanOrEqual(1);
    expect(after.value("tdk_pending_call_oldest_age_seconds")).toBeGreaterThanOrEqual(119);
    // No Stripe here: the paid account's succeeded calls wait to be reported.
    expect(after.value("tdk_usage_unreported_calls")).toBeGreaterThanOrEqual(2);
    expect(after.value("tdk_usage_unreported_oldest_age_seconds")).toBeGreaterThan(0);
    expect(after.value("tdk_circuit_breakers_open")).toBe(0);
    expect(after.value("tdk_treasury_usdc_micro")).toBeGreaterThan(0);
    expect(after.value("tdk_treasury_low")).toBe(0);
    expect(after.text).not.toContain(caller.apiKey);
  });
});
