import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import * as recoverCron from "@/app/api/cron/recover-calls/route";
import * as reportCron from "@/app/api/cron/report-usage/route";
import * as topupCron from "@/app/api/cron/treasury-topup/route";
import * as call from "@/app/api/tdk/v1/call/route";
import { demoAgents, type LocalAgentDefinition } from "@/lib/agents/demo-agents";
import { ensureStripeCustomer, getBillingAccount } from "@/lib/billing/customers";
import type { AppContext } from "@/lib/context";
import { toBase58 } from "@/lib/solana/base58";
import { callRoute, createKeyedAccount, createTestApp, sql } from "../helpers/app";
import { deliverWebhook, stripeEvent } from "../helpers/stripe-events";
import { startStripeStandIn, type StripeStandIn } from "../helpers/stripe-standin";
import { type AlertWebhook, startAlertWebhook } from "../helpers/alert-webhook";

/** The operator's alert webhook. */
let webhook: AlertWebhook;
let stripe: StripeStandIn;
const CRON_SECRET = "cron-secret-for-the-alerts-test";
const WEBHOOK_SECRET = "whsec_alerts_test";

/** An agent that takes the payment and then fails: enough of them open its circuit breaker. */
const brokenAgent: LocalAgentDefinition = {
  id: "0d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6",
  name: "brokenagent",
  description: "Fails after it is paid.",
  priceMicro: 1_000n,
  feeBps: 1_000,
  inputSchema: z.object({}).strict(),
  outputSchema: z.object({}),
  handle: async () => {
    throw new Error("the agent crashed");
  },
};

beforeAll(async () => {
  webhook = await startAlertWebhook();
  stripe = await startStripeStandIn();
});
afterAll(async () => {
  await webhook?.close();
  await stripe?.close();
});

async function appWith(env: Record<string, string> = {}, agents?: LocalAgentDefinition[]): Promise<AppContext> {
  return createTestApp({
    agents,
    stripe: stripe.client(),
    env: {
      CRON_SECRET,
      ALERT_WEBHOOK_URL: webhook.url,
      STRIPE_SECRET_KEY: stripe.secretKey,
      STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
      STRIPE_PRICE_PAID: "price_paid_test",
      ...env,
    },
  });
}

const cron = (route: { GET: typeof recoverCron.GET }) => callRoute(route.GET, "GET", "/", { bearer: CRON_SECRET });
const sent = (kind: string) => webhook.received.filter((alert) => alert.kind === kind);

describe("alerts: each fired once by its cause, with a clear text", () => {
  it("pending calls older than 10 minutes", async () => {
    const app = await appWith();
    const caller = await createKeyedAccount(app, { label: "stale" });
    await callRoute(call.POST, "POST", "/", { bearer: caller.apiKey, body: { agent_id: "textstats", input: { text: "x" } } });
    // A call whose payment's fate nothing proves yet (an unknown signature, no expiry recorded), 20 minutes old.
    await sql(
      app.db,
      "update tdk_usage set status = 'pending', settled_at = null, tx_signature = $2, last_valid_block_height = null, created_at = now() - interval '20 minutes' where api_key_id = $1",
      [caller.key.id, toBase58(randomBytes(64))],
    );
    for (let run = 0; run < 3; run += 1) expect((await cron(recoverCron)).status).toBe(200);
    expect(sent("pending_stale")).toHaveLength(1);
    expect(sent("pending_stale")[0]!.message).toMatch(/1 calls and 0 fundings are pending for more than 10 minutes/);
  });

  it("usage reporting failing, and lagging", async () => {
    const app = await appWith();
    // Failing: Stripe answers 500 to the meter events; the batch is kept for the next run.
    const paid = await createKeyedAccount(app, { label: "report-fail", tier: "paid" });
    await ensureStripeCustomer(app.db, app.stripe!, (await getBillingAccount(app.db, paid.accountId))!);
    await callRoute(call.POST, "POST", "/", { bearer: paid.apiKey, body: { agent_id: "textstats", input: { text: "bill me" } } });
    stripe.failNext("/v1/billing/meter_events", 500, 20);
    for (let run = 0; run < 2; run += 1) expect((await cron(reportCron)).json.retry_later).toBeGreaterThan(0);
    expect(sent("usage_report_failing")).toHaveLength(1);
    expect(sent("usage_report_failing")[0]!.message).toMatch(/Usage reporting to Stripe is failing: 1 batches left for the next run/);

    // Lagging: billable usage 7 hours old still unreported (its account has no Stripe customer yet).
    const lagging = await createKeyedAccount(app, { label: "report-lag", tier: "paid" });
    await callRoute(call.POST, "POST", "/", { bearer: lagging.apiKey, body: { agent_id: "textstats", input: { text: "late" } } });
    await sql(app.db, "update tdk_usage set created_at = now() - interval '7 hours' where api_key_id = $1", [lagging.key.id]);
    for (let run = 0; run < 2; run += 1) await cron(reportCron);
    expect(sent("usage_report_lagging")).toHaveLength(1);
    expect(sent("usage_report_lagging")[0]!.message).toMatch(/the oldest 7 hours old/);
  });

  it("a circuit breaker opened", async () => {
    const app = await appWith({ AGENT_BREAKER_FAILURES: "2" }, [...demoAgents(), brokenAgent]);
    const caller = await createKeyedAccount(app, { label: "breaker", tier: "paid" });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i += 1) {
      statuses.push(
        (await callRoute(call.POST, "POST", "/", { bearer: caller.apiKey, body: { agent_id: "brokenagent", input: {} } })).status,
      );
    }
    expect(statuses.slice(0, 2)).toEqual([502, 502]);
    expect(statuses.slice(2)).toEqual([503, 503]);
    expect(sent("circuit_open")).toHaveLength(1);
    expect(sent("circuit_open")[0]).toMatchObject({ key: brokenAgent.id });
    expect(sent("circuit_open")[0]!.message).toMatch(/its circuit breaker is open until/);
  });

  it("funding caps hit", async () => {
    // Every wallet is under a 100 USDC low-water mark, and a free key's 5 USDC a day went to its first funding.
    const app = await appWith({ TOPUP_LOW_WATER_USDC_MICRO: "100000000", TOPUP_TARGET_USDC_MICRO: "200000000" });
    await createKeyedAccount(app, { label: "capped" });
    for (let run = 0; run < 2; run += 1) expect((await cron(topupCron)).status).toBe(200);
    const capped = sent("funding_cap_hit");
    expect(capped).toHaveLength(1);
    expect(capped[0]!.message).toMatch(/left 1 wallets under their low-water mark: (key|account) cap reached/);
  });

  it("a webhook handler failing", async () => {
    await appWith();
    const before = sent("webhook_failing").length;
    // The handler reads the subscription back from Stripe, which fails: the claim is released for the next delivery.
    stripe.failNext("/v1/subscriptions", 500, 20);
    const session = {
      id: "cs_alert",
      object: "checkout.session",
      mode: "subscription",
      client_reference_id: null,
      subscription: "sub_alert",
    };
    for (let delivery = 0; delivery < 2; delivery += 1) {
      const res = await deliverWebhook(
        stripeEvent("checkout.session.completed", { ...session, metadata: { tdk_account_id: "x" } }),
        WEBHOOK_SECRET,
      );
      expect(res.status).toBe(500);
    }
    expect(sent("webhook_failing").length - before).toBe(1);
    expect(sent("webhook_failing").at(-1)!.message).toMatch(/handler for checkout.session.completed failed/);
  });
});
