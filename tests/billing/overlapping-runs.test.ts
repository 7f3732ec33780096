import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as call from "@/app/api/tdk/v1/call/route";
import { ensureStripeCustomer, getBillingAccount } from "@/lib/billing/customers";
import { reportUsage } from "@/lib/billing/report-usage";
import { callRoute, createKeyedAccount, createTestApp, sql } from "../helpers/app";
import { concurrencyBackends } from "../helpers/postgres";
import { startStripeStandIn, type StripeStandIn } from "../helpers/stripe-standin";

/** Two report runs at once (a slow cron overlapping the next) still bill every call exactly once. */
const backends = concurrencyBackends();

let stripe: StripeStandIn;
beforeAll(async () => {
  stripe = await startStripeStandIn();
});
afterAll(async () => stripe?.close());

describe.each(backends)("overlapping usage reports on $name", (backend) => {
  it("bill each call once", async () => {
    const { db, close } = await backend.open();
    try {
      const app = await createTestApp({
        db,
        stripe: stripe.client(),
        env: { STRIPE_SECRET_KEY: stripe.secretKey, STRIPE_WEBHOOK_SECRET: "whsec_x" },
      });
      const customers: { accountId: string; customer: string }[] = [];
      for (let i = 0; i < 3; i += 1) {
        const caller = await createKeyedAccount(app, { tier: "paid" });
        const customer = await ensureStripeCustomer(app.db, app.stripe!, (await getBillingAccount(app.db, caller.accountId))!);
        for (let j = 0; j < 3; j += 1) {
          const res = await callRoute(call.POST, "POST", "/", {
            bearer: caller.apiKey,
            body: { agent_id: "warmmemory", input: { action: "store", key: `k${j}`, value: "v" } },
          });
          expect(res.status).toBe(200);
        }
        customers.push({ accountId: caller.accountId, customer });
      }
      stripe.setMeterEventDelay(50);
      const deps = { db: app.db, stripe: app.stripe!, meterEventName: "tdk_usage_micro", log: () => {} };
      try {
        await Promise.all([reportUsage(deps), reportUsage(deps), reportUsage(deps)]);
      } finally {
        stripe.setMeterEventDelay(0);
      }
      for (const { accountId, customer } of customers) {
        const [expected] = await sql<{ total: string }>(
          app.db,
          "select sum(developer_cost_micro)::text as total from tdk_usage where account_id = $1",
          [accountId],
        );
        expect(stripe.meterTotals.get(customer)).toBe(BigInt(expected!.total));
        const statuses = await sql<{ billing_status: string }>(app.db, "select billing_status from tdk_usage where account_id = $1", [
          accountId,
        ]);
        expect(statuses.every((row) => row.billing_status === "reported")).toBe(true);
      }
      const batches = await sql<{ n: number }>(app.db, "select count(*)::int as n from tdk_usage_batches where status <> 'reported'");
      expect(batches[0]!.n).toBe(0);
    } finally {
      await close();
    }
  }, 120_000);
});
