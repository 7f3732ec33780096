import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import * as call from "@/app/api/tdk/v1/call/route";
import * as reportCron from "@/app/api/cron/report-usage/route";
import { ensureStripeCustomer, getBillingAccount } from "@/lib/billing/customers";
import { reportUsage, type ReportStep } from "@/lib/billing/report-usage";
import type { AppContext } from "@/lib/context";
import { callFunction } from "@/lib/db";
import { callRoute, createKeyedAccount, createTestApp, sql } from "../helpers/app";
import { startStripeStandIn, type StripeStandIn } from "../helpers/stripe-standin";

const CRON_SECRET = "cron-secret-for-tests-0123456789";
let stripe: StripeStandIn;
let app: AppContext;

beforeAll(async () => {
  stripe = await startStripeStandIn();
  app = await createTestApp({
    stripe: stripe.client(),
    env: { STRIPE_SECRET_KEY: stripe.secretKey, STRIPE_WEBHOOK_SECRET: "whsec_test", CRON_SECRET },
  });
});
afterAll(async () => stripe?.close());

type Tier = "free" | "paid" | "pro";

/** An account with a Stripe customer and `calls` settled calls spread over the past month. */
async function accountWithUsage(tier: Tier, calls: number, options: { suspend?: boolean } = {}) {
  const caller = await createKeyedAccount(app, { tier });
  const customer = await ensureStripeCustomer(app.db, app.stripe!, (await getBillingAccount(app.db, caller.accountId))!);
  const agents = ["warmmemory", "textstats", "sentiment"];
  for (let i = 0; i < calls; i += 1) {
    const agent = agents[i % agents.length]!;
    const input = agent === "warmmemory" ? { action: "store", key: `k${i}`, value: "v" } : { text: `call number ${i}` };
    const res = await callRoute(call.POST, "POST", "/", { bearer: caller.apiKey, body: { agent_id: agent, input } });
    expect(res.status, res.text).toBe(200);
  }
  // Spread over the last 30 days, as a month of use would be.
  await sql(
    app.db,
    "update tdk_usage set created_at = now() - ((row_number_days % 30) || ' days')::interval from (select id as uid, (row_number() over (order by created_at))::int as row_number_days from tdk_usage where api_key_id = $1) r where id = r.uid",
    [caller.key.id],
  );
  if (options.suspend) {
    await callFunction(
      app.db,
      "tdk_set_billing_suspension",
      { p_customer_id: customer, p_reason: "payment_failed", p_suspend: true },
      z.unknown(),
    );
  }
  return { ...caller, customer };
}

async function developerTotal(accountId: string): Promise<bigint> {
  const row = (
    await sql<any>(
      app.db,
      "select coalesce(sum(developer_cost_micro), 0)::text as total from tdk_usage where account_id = $1 and status = 'succeeded'",
      [accountId],
    )
  )[0];
  return BigInt(row.total);
}

async function billingStatuses(accountId: string): Promise<Record<string, number>> {
  const rows = await sql<any>(app.db, "select billing_status, count(*)::int as n from tdk_usage where account_id = $1 group by 1", [
    accountId,
  ]);
  return Object.fromEntries(rows.map((row: { billing_status: string; n: number }) => [row.billing_status, row.n]));
}

const cron = (secret = CRON_SECRET) => callRoute(reportCron.GET, "GET", "/api/cron/report-usage", { bearer: secret });

describe("GET /api/cron/report-usage", () => {
  it("reports a month of calls of several accounts with meter totals equal to the developer costs, to the micro-dollar", async () => {
    const paid = await accountWithUsage("paid", 7);
    const pro = await accountWithUsage("pro", 5);
    const suspended = await accountWithUsage("paid", 4, { suspend: true });
    const free = await accountWithUsage("free", 6);

    const res = await cron();
    expect(res.status).toBe(200);
    expect(res.text.trim().split("\n")).toHaveLength(1);
    // One event per customer and hour of calls: the month's calls fall in 7 + 5 + 4 different hours.
    expect(res.json).toMatchObject({ ok: true, reported: 16, retry_later: 0, flagged: 0 });
    expect(res.json.not_billable_rows).toBeGreaterThanOrEqual(6);

    for (const account of [paid, pro, suspended]) {
      expect(stripe.meterTotals.get(account.customer)).toBe(await developerTotal(account.accountId));
      expect(await billingStatuses(account.accountId)).toEqual({ reported: account === paid ? 7 : account === pro ? 5 : 4 });
    }
    expect(stripe.meterTotals.has(free.customer)).toBe(false);
    expect(await billingStatuses(free.accountId)).toEqual({ not_billable: 6 });

    // One event per customer and hour, identified by its batch, valued in whole micro-USD, and
    // timestamped with its call: Stripe bills it in the period the call was made in.
    const events = stripe.meterEvents.filter((event) => [paid.customer, pro.customer, suspended.customer].includes(event.customer));
    expect(events).toHaveLength(16);
    expect(events.every((event) => /^tdkb_[0-9a-f-]{36}$/.test(event.identifier))).toBe(true);
    const calls = await sql<{ customer: string; at: number; cost: string }>(
      app.db,
      "select a.stripe_customer_id as customer, floor(extract(epoch from u.created_at))::int as at, u.developer_cost_micro::text as cost from tdk_usage u join tdk_accounts a on a.id = u.account_id where u.account_id = any($1) and u.status = 'succeeded'",
      [[paid.accountId, pro.accountId, suspended.accountId]],
    );
    const asEvents = (list: { customer: string; at: number; cost: string }[]) => list.map((e) => `${e.customer} ${e.at} ${e.cost}`).sort();
    expect(asEvents(events.map((event) => ({ customer: event.customer, at: event.timestamp, cost: String(event.value) })))).toEqual(
      asEvents(calls),
    );
    const request = stripe.requests.find((r) => r.path === "/v1/billing/meter_events")!;
    expect(request.body).toMatchObject({
      event_name: "tdk_usage_micro",
      payload: { stripe_customer_id: expect.any(String), value: expect.stringMatching(/^\d+$/) },
    });
    expect(request.headers["idempotency-key"]).toBe(`${request.body.identifier}:0`);

    // Nothing new: the next run sends nothing.
    const before = stripe.meterEvents.length;
    expect((await cron()).json).toMatchObject({ batches: 0, reported: 0 });
    expect(stripe.meterEvents.length).toBe(before);
  });

  it("refuses callers without the cron secret (401), comparing in constant time", async () => {
    expect((await cron("wrong-secret-wrong-secret-000")).status).toBe(401);
    expect((await callRoute(reportCron.GET, "GET", "/api/cron/report-usage")).status).toBe(401);
    expect((await callRoute(reportCron.GET, "GET", "/", { headers: { authorization: CRON_SECRET } })).status).toBe(401);
  });
});

describe("exactly once, whatever fails", () => {
  class Crash extends Error {}
  const run = (afterStep?: (step: ReportStep) => void) =>
    reportUsage({ db: app.db, stripe: app.stripe!, meterEventName: "tdk_usage_micro", sleep: async () => {}, afterStep, log: () => {} });

  /** Three calls in one past hour: one batch, one meter event. */
  async function freshUsage() {
    const account = await accountWithUsage("paid", 3);
    await sql(app.db, "update tdk_usage set created_at = date_trunc('hour', now()) - interval '30 minutes' where account_id = $1", [
      account.accountId,
    ]);
    return { account, total: await developerTotal(account.accountId) };
  }

  it.each<ReportStep>(["claimed", "accepted"])("a crash after %s, then a rerun: billed once", async (step) => {
    const { account, total } = await freshUsage();
    await expect(
      run((at) => {
        if (at === step) throw new Crash(step);
      }),
    ).rejects.toBeInstanceOf(Crash);
    expect((await billingStatuses(account.accountId)).claimed).toBe(3);
    const summary = await run();
    expect(summary.reported).toBeGreaterThanOrEqual(1);
    expect(stripe.meterTotals.get(account.customer)).toBe(total);
    expect(stripe.meterEvents.filter((event) => event.customer === account.customer)).toHaveLength(1);
    expect(await billingStatuses(account.accountId)).toEqual({ reported: 3 });
  });

  it("a Stripe 500, then a rerun: billed once, nothing lost — under a fresh idempotency key, since Stripe keeps the 500 under the old one", async () => {
    const { account, total } = await freshUsage();
    stripe.failNext("/v1/billing/meter_events", 500, 1);
    const first = await run();
    expect(first.retry_later).toBe(1);
    expect(stripe.meterTotals.get(account.customer)).toBeUndefined();
    await run();
    expect(stripe.meterTotals.get(account.customer)).toBe(total);
    expect(await billingStatuses(account.accountId)).toEqual({ reported: 3 });
    const sent = stripe.requests.filter(
      (r) =>
        r.path === "/v1/billing/meter_events" && (r.body.payload as { stripe_customer_id: string }).stripe_customer_id === account.customer,
    );
    expect(sent.map((r) => r.headers["idempotency-key"])).toEqual([`${sent[0]!.body.identifier}:0`, `${sent[0]!.body.identifier}:1`]);
    expect(new Set(sent.map((r) => r.body.identifier)).size).toBe(1);
    // The stand-in is as unkind as Stripe: the first key still answers its 500.
    await expect(
      app.stripe!.billing.meterEvents.create(
        { event_name: "tdk_usage_micro", payload: { stripe_customer_id: account.customer, value: "1" } },
        { idempotencyKey: String(sent[0]!.headers["idempotency-key"]) },
      ),
    ).rejects.toMatchObject({ statusCode: 500 });
  });

  it("an event Stripe counted but whose answer was lost: the rerun's identifier conflict (a 400 with no code) completes the batch, billed once", async () => {
    const { account, total } = await freshUsage();
    // stripe-node retries a closed connection once, under the same key: both answers are lost.
    stripe.loseAnswers("/v1/billing/meter_events", 2);
    expect((await run()).retry_later).toBe(1);
    expect(stripe.meterTotals.get(account.customer)).toBe(total); // Stripe has it; we do not know
    const second = await run();
    expect(second).toMatchObject({ flagged: 0 });
    expect(await billingStatuses(account.accountId)).toEqual({ reported: 3 });
    expect(stripe.meterTotals.get(account.customer)).toBe(total);
  });

  it("past Stripe's 24-hour memory of identifiers, a batch whose outcome stayed unknown is flagged, never resent to count twice", async () => {
    const { account, total } = await freshUsage();
    // stripe-node retries a closed connection once, under the same key: both answers are lost.
    stripe.loseAnswers("/v1/billing/meter_events", 2);
    expect((await run()).retry_later).toBe(1);
    // A day passes (Stripe forgets the identifier) before the next run gets through.
    stripe.advanceClock(25 * 3_600_000);
    await sql(app.db, "update tdk_usage_batches set created_at = created_at - interval '25 hours' where account_id = $1", [
      account.accountId,
    ]);
    const logs: string[] = [];
    const later = await reportUsage({
      db: app.db,
      stripe: app.stripe!,
      meterEventName: "tdk_usage_micro",
      sleep: async () => {},
      log: (line) => logs.push(line),
    });
    stripe.advanceClock(-25 * 3_600_000);
    expect(later.flagged).toBe(1);
    expect(await billingStatuses(account.accountId)).toEqual({ flagged: 3 });
    expect(stripe.meterTotals.get(account.customer)).toBe(total);
    expect(logs.join("\n")).toMatch(/no longer remembers its identifier/);
  });

  it("a batch whose billing period was already invoiced is flagged, not sent to be counted on no invoice", async () => {
    const { account } = await freshUsage();
    await sql(
      app.db,
      "insert into tdk_billing_periods (account_id, period_start, period_end, status, stripe_invoice_id) values ($1, now() - interval '1 month', date_trunc('hour', now()) - interval '10 minutes', 'open', $2)",
      [account.accountId, `in_${account.accountId}`],
    );
    const summary = await run();
    expect(summary.flagged).toBe(1);
    expect(await billingStatuses(account.accountId)).toEqual({ flagged: 3 });
    expect(stripe.meterTotals.get(account.customer)).toBeUndefined();
    // And Stripe itself refuses an event more than 5 minutes in the future.
    await expect(
      app.stripe!.billing.meterEvents.create({
        event_name: "tdk_usage_micro",
        payload: { stripe_customer_id: account.customer, value: "1" },
        timestamp: Math.floor(Date.now() / 1000) + 600,
      }),
    ).rejects.toMatchObject({ statusCode: 400, param: "timestamp" });
  });

  it("backs off on 429 and succeeds in the same run; still rate limited after the backoff, the batch waits for the next run", async () => {
    const { account, total } = await freshUsage();
    const sleeps: number[] = [];
    stripe.failNext("/v1/billing/meter_events", 429, 2);
    const summary = await reportUsage({
      db: app.db,
      stripe: app.stripe!,
      meterEventName: "tdk_usage_micro",
      sleep: async (ms) => void sleeps.push(ms),
      log: () => {},
    });
    expect(summary.reported).toBe(1);
    expect(sleeps).toEqual([250, 1_000]);
    expect(stripe.meterTotals.get(account.customer)).toBe(total);

    const next = await freshUsage();
    stripe.failNext("/v1/billing/meter_events", 429, 4); // the first try and all three backoff retries
    expect((await run()).retry_later).toBe(1);
    expect((await billingStatuses(next.account.accountId)).claimed).toBe(3);
    expect((await run()).reported).toBe(1);
    expect(stripe.meterTotals.get(next.account.customer)).toBe(next.total);
  });

  it("sends customers in parallel but never two requests for the same customer at once", async () => {
    const accounts = await Promise.all([freshUsage(), freshUsage(), freshUsage()]);
    // Leave each customer a batch open (a crash after the claim), then add usage: two batches each.
    await expect(
      run((at) => {
        if (at === "claimed") throw new Crash("claimed");
      }),
    ).rejects.toBeInstanceOf(Crash);
    for (const { account } of accounts) {
      await callRoute(call.POST, "POST", "/", { bearer: account.apiKey, body: { agent_id: "warmmemory", input: { action: "list" } } });
    }
    stripe.setMeterEventDelay(100);
    stripe.maxInFlight.perCustomer = 0;
    stripe.maxInFlight.overall = 0;
    try {
      const summary = await run();
      expect(summary.reported).toBe(6);
    } finally {
      stripe.setMeterEventDelay(0);
    }
    expect(stripe.maxInFlight.perCustomer).toBe(1);
    expect(stripe.maxInFlight.overall).toBeGreaterThan(1);
    for (const { account } of accounts) {
      expect(stripe.meterTotals.get(account.customer)).toBe(await developerTotal(account.accountId));
      expect(stripe.meterEvents.filter((event) => event.customer === account.customer)).toHaveLength(2);
    }
  });

  it("flags usage older than Stripe accepts (35 days) instead of sending it", async () => {
    const account = await accountWithUsage("paid", 2);
    await sql(app.db, "update tdk_usage set created_at = now() - interval '40 days' where account_id = $1", [account.accountId]);
    const logs: string[] = [];
    const summary = await reportUsage({
      db: app.db,
      stripe: app.stripe!,
      meterEventName: "tdk_usage_micro",
      log: (line) => logs.push(line),
    });
    expect(summary.flagged_rows).toBe(2);
    expect(await billingStatuses(account.accountId)).toEqual({ flagged: 2 });
    expect(stripe.meterTotals.get(account.customer)).toBeUndefined();
    expect(logs.join("\n")).toMatch(/ALERT usage: 2 settled calls are older than 35 days/);
  });
});
