import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as call from "@/app/api/tdk/v1/call/route";
import { ensureStripeCustomer, getBillingAccount } from "@/lib/billing/customers";
import { reportUsage } from "@/lib/billing/report-usage";
import { setupStripe } from "@/lib/billing/setup";
import { setAppContext, type AppContext } from "@/lib/context";
import { rotateWalletSecrets } from "@/lib/crypto/rotate";
import { keyVersionOf, type KeyRing } from "@/lib/crypto/secret-box";
import { reconcile } from "@/lib/ops/reconcile";
import { loadTreasury } from "@/lib/solana/treasury";
import { callRoute, createKeyedAccount, createTestApp, sql } from "../helpers/app";
import { startStripeStandIn, type StripeStandIn } from "../helpers/stripe-standin";

let stripe: StripeStandIn;
beforeAll(async () => {
  stripe = await startStripeStandIn();
});
afterAll(async () => stripe?.close());

describe("scripts/setup-stripe.ts", () => {
  it("creates the meter, product and metered prices once, and finds them again", async () => {
    const client = stripe.client();
    const first = await setupStripe(client, "tdk_usage_micro");
    expect(first.created).toHaveLength(4);
    const meter = stripe.requests.find((r) => r.method === "POST" && r.path === "/v1/billing/meters")!;
    expect(meter.body).toMatchObject({
      event_name: "tdk_usage_micro",
      default_aggregation: { formula: "sum" },
      customer_mapping: { event_payload_key: "stripe_customer_id", type: "by_id" },
      value_settings: { event_payload_key: "value" },
    });
    const price = stripe.requests.find((r) => r.method === "POST" && r.path === "/v1/prices")!;
    expect(price.body).toMatchObject({
      currency: "usd",
      unit_amount_decimal: "0.0001",
      recurring: { interval: "month", usage_type: "metered", meter: first.meterId },
    });

    const second = await setupStripe(client, "tdk_usage_micro");
    expect(second.created).toEqual([]);
    expect(second).toMatchObject({ meterId: first.meterId, productId: first.productId, prices: first.prices });
  });
});

describe("scripts/rotate-encryption-key.ts", () => {
  let app: AppContext;
  let newRing: KeyRing;
  beforeAll(async () => {
    app = await createTestApp();
    for (let i = 0; i < 3; i += 1) await createKeyedAccount(app);
    newRing = { current: { version: 2, key: randomBytes(32) }, decryptOnly: [app.ring.current] };
  });

  it("a dry run counts and changes nothing", async () => {
    const report = await rotateWalletSecrets(app.db, newRing, { dryRun: true });
    expect(report).toMatchObject({ current_version: 2, by_version: { "1": 4 }, reencrypted: 0, remaining_old: 4 });
  });

  it("refuses to finish while a secret cannot be moved (its old key is missing)", async () => {
    const withoutOld: KeyRing = { current: newRing.current, decryptOnly: [] };
    const report = await rotateWalletSecrets(app.db, withoutOld, { dryRun: false });
    expect(report.failed).toHaveLength(4);
    expect(report.failed[0]!.error).toMatch(/No master key for key version 1/);
    expect(report).toMatchObject({ reencrypted: 0, remaining_old: 4 });
  });

  it("re-encrypts every row, resumably, and the wallets still open under the new key only", async () => {
    // A run that stopped after the first page (page size 1, interrupted) is simply run again.
    const partial = await rotateWalletSecrets(app.db, newRing, { dryRun: false, pageSize: 1 });
    expect(partial.remaining_old).toBe(0);
    expect(partial.reencrypted).toBe(4);
    const again = await rotateWalletSecrets(app.db, newRing, { dryRun: false });
    expect(again).toMatchObject({ reencrypted: 0, remaining_old: 0, by_version: { "2": 4 } });

    const rows = (await sql(app.db, "select wallet_secret_encrypted as s from tdk_api_keys")) as { s: string }[];
    expect(rows.every((row) => keyVersionOf(row.s) === 2)).toBe(true);
    const onlyNew: KeyRing = { current: newRing.current, decryptOnly: [] };
    expect(await loadTreasury(app.db, onlyNew)).not.toBeNull();
    // And a paid call signs with a re-encrypted wallet, in a gateway restarted with the new key only
    // (the services are built once per context: a new ring is a new context).
    const restarted: AppContext = { ...app, ring: onlyNew };
    setAppContext(restarted);
    const caller = await createKeyedAccount(restarted);
    expect(
      (await callRoute(call.POST, "POST", "/", { bearer: caller.apiKey, body: { agent_id: "warmmemory", input: { action: "list" } } }))
        .status,
    ).toBe(200);
  });
});

describe("scripts/reconcile.ts", () => {
  it("finds no difference when chain, usage and Stripe agree, and names each one when they do not", async () => {
    const app = await createTestApp({
      stripe: stripe.client(),
      env: { STRIPE_SECRET_KEY: stripe.secretKey, STRIPE_WEBHOOK_SECRET: "whsec_x" },
    });
    const caller = await createKeyedAccount(app, { tier: "paid" });
    await ensureStripeCustomer(app.db, app.stripe!, (await getBillingAccount(app.db, caller.accountId))!);
    for (let i = 0; i < 4; i += 1)
      await callRoute(call.POST, "POST", "/", {
        bearer: caller.apiKey,
        body: { agent_id: "warmmemory", input: { action: "store", key: `k${i}`, value: "v" } },
      });
    await reportUsage({ db: app.db, stripe: app.stripe!, meterEventName: "tdk_usage_micro", log: () => {} });
    const range = { from: new Date(Date.now() - 86_400_000), to: new Date(Date.now() + 60_000) };

    const clean = await reconcile(app.db, app.ledger, range);
    expect(clean).toMatchObject({
      calls: 4,
      paid_on_chain_micro: 4_000,
      billable_developer_micro: 6_000,
      reported_micro: 6_000,
      in_flight_micro: 0,
      differences: [],
    });

    const [first] = await sql<{ id: string }>(app.db, "select id from tdk_usage where account_id = $1 order by created_at limit 1", [
      caller.accountId,
    ]);
    await sql(app.db, "update tdk_usage set status = 'failed', billing_status = 'not_billable' where id = $1", [first!.id]);
    await sql(app.db, "update tdk_usage_batches set total_micro = total_micro + 1");
    const broken = await reconcile(app.db, app.ledger, range);
    expect(broken.differences.map((d) => d.kind).sort()).toEqual(["batch_total_mismatch", "paid_on_chain_not_in_usage"]);
  });
});
