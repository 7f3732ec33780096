import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as reconcileCron from "@/app/api/cron/reconcile/route";
import * as reportCron from "@/app/api/cron/report-usage/route";
import * as metrics from "@/app/api/metrics/route";
import * as call from "@/app/api/tdk/v1/call/route";
import { ensureStripeCustomer, getBillingAccount } from "@/lib/billing/customers";
import type { AppContext } from "@/lib/context";
import { openReconciliationDifferences } from "@/lib/ops/ops-store";
import { servicesFor } from "@/lib/services";
import { callRoute, createKeyedAccount, createTestApp, sql } from "../helpers/app";
import { startStripeStandIn, type StripeStandIn } from "../helpers/stripe-standin";
import { type AlertWebhook, startAlertWebhook } from "../helpers/alert-webhook";

const CRON_SECRET = "cron-secret-for-the-reconcile-test";
let webhook: AlertWebhook;
let stripe: StripeStandIn;
let app: AppContext;

beforeAll(async () => {
  webhook = await startAlertWebhook();
  stripe = await startStripeStandIn();
  app = await createTestApp({
    stripe: stripe.client(),
    env: {
      CRON_SECRET,
      ALERT_WEBHOOK_URL: webhook.url,
      STRIPE_SECRET_KEY: stripe.secretKey,
      STRIPE_WEBHOOK_SECRET: "whsec_reconcile_test",
      STRIPE_PRICE_PAID: "price_paid_test",
    },
  });
  await app.stripe!.billing.meters.create({
    display_name: "TDK usage",
    event_name: "tdk_usage_micro",
    default_aggregation: { formula: "sum" },
    customer_mapping: { type: "by_id", event_payload_key: "stripe_customer_id" },
    value_settings: { event_payload_key: "value" },
  });
});
afterAll(async () => {
  await webhook?.close();
  await stripe?.close();
});

const today = () => new Date().toISOString().slice(0, 10);
const runReconcile = async () => {
  const res = await callRoute(reconcileCron.GET, "GET", `/api/cron/reconcile?day=${today()}`, { bearer: CRON_SECRET });
  expect(res.status, res.text).toBe(200);
  return res.json;
};
const openKinds = async () => (await openReconciliationDifferences(app.db)).map((difference) => difference.kind).sort();

describe("GET /api/cron/reconcile", () => {
  it("finds a planted difference in each comparison — chain vs usage, treasury vs fundings, reported vs Stripe — stores, alerts once, resolves", async () => {
    const caller = await createKeyedAccount(app, { label: "reconcile", tier: "paid" });
    const customer = await ensureStripeCustomer(app.db, app.stripe!, (await getBillingAccount(app.db, caller.accountId))!);
    for (const text of ["one", "two", "three"]) {
      expect(
        (await callRoute(call.POST, "POST", "/", { bearer: caller.apiKey, body: { agent_id: "textstats", input: { text } } })).status,
      ).toBe(200);
    }
    expect((await callRoute(reportCron.GET, "GET", "/", { bearer: CRON_SECRET })).json.reported).toBeGreaterThan(0);

    const clean = await runReconcile();
    expect(clean).toMatchObject({ ok: true, calls: 3, treasury_checked: true, stripe_checked: true, differences: 0, new_differences: 0 });

    // 1. Chain vs usage: a call the chain shows paid, recorded as failed.
    const [paidRow] = await sql<{ id: string }>(app.db, "select id from tdk_usage where api_key_id = $1 order by created_at limit 1", [
      caller.key.id,
    ]);
    await sql(app.db, "update tdk_usage set status = 'failed', billing_status = 'not_billable' where id = $1", [paidRow!.id]);
    // 2. Treasury vs fundings: the key's first funding recorded one micro-USDC more than the treasury sent.
    await sql(app.db, "update tdk_wallet_fundings set usdc_micro = usdc_micro + 1 where api_key_id = $1 and reason = 'initial'", [
      caller.key.id,
    ]);
    // 3. Reported vs Stripe: Stripe's meter holds an event the gateway never sent.
    await app.stripe!.billing.meterEvents.create({
      event_name: "tdk_usage_micro",
      identifier: "planted-by-the-test",
      payload: { stripe_customer_id: customer, value: "7" },
    });

    const found = await runReconcile();
    expect(found.new_differences).toBeGreaterThanOrEqual(3);
    const kinds = await openKinds();
    for (const kind of ["paid_on_chain_not_in_usage", "treasury_amount_mismatch", "stripe_meter_mismatch"]) expect(kinds).toContain(kind);
    const stripeDifference = (await openReconciliationDifferences(app.db)).find(
      (difference) => difference.kind === "stripe_meter_mismatch",
    )!;
    expect(stripeDifference.detail).toMatch(/Stripe's meter holds \d+/);
    expect(stripeDifference.id.startsWith(customer)).toBe(true);

    // Alerted once; a second run finds them again without a new alert.
    expect(webhook.received.filter((alert) => alert.kind === "reconciliation_difference")).toHaveLength(1);
    expect(webhook.received.at(-1)!.message).toMatch(/new differences: .*paid on chain not in usage/);
    expect((await runReconcile()).new_differences).toBe(0);
    expect(webhook.received.filter((alert) => alert.kind === "reconciliation_difference")).toHaveLength(1);

    // The console lists them for operators.
    expect((await servicesFor(app).admin.differences()).map((difference) => difference.kind)).toContain("treasury_amount_mismatch");
    // The metrics count them.
    const scrape = await callRoute(metrics.GET, "GET", "/api/metrics", { bearer: CRON_SECRET });
    expect(scrape.text).toMatch(/tdk_reconciliation_differences\{kind="stripe_meter_mismatch"\} 1/);

    // Undone, a difference is resolved by the next run.
    await sql(app.db, "update tdk_usage set status = 'succeeded', billing_status = 'reported' where id = $1", [paidRow!.id]);
    await runReconcile();
    expect(await openKinds()).not.toContain("paid_on_chain_not_in_usage");
    expect(await openKinds()).toContain("stripe_meter_mismatch");
  });

  it("refuses a request without the cron secret", async () => {
    const res = await callRoute(reconcileCron.GET, "GET", "/api/cron/reconcile", {});
    expect(res.status).toBe(401);
  });
});
