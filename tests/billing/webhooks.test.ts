import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as checkout from "@/app/api/tdk/billing/checkout/route";
import * as login from "@/app/api/tdk/auth/login/route";
import * as call from "@/app/api/tdk/v1/call/route";
import { changePlan } from "@/lib/billing/checkout";
import { ensureStripeCustomer, getBillingAccount } from "@/lib/billing/customers";
import { getApiKey } from "@/lib/keys/keys";
import type { AppContext } from "@/lib/context";
import { getAccount } from "@/lib/auth/account-store";
import { servicesFor } from "@/lib/services";
import * as webhook from "@/app/api/webhooks/stripe/route";
import { callRoute, createKeyedAccount, createTestApp, requestCutShort, strongPassword, sql } from "../helpers/app";
import { deliverWebhook, signWebhook, stripeEvent } from "../helpers/stripe-events";
import { startStripeStandIn, type StripeStandIn } from "../helpers/stripe-standin";

const WEBHOOK_SECRET = "whsec_test_secret_for_webhooks";
let stripe: StripeStandIn;
let app: AppContext;

beforeAll(async () => {
  stripe = await startStripeStandIn();
  app = await createTestApp({
    stripe: stripe.client(),
    env: {
      STRIPE_SECRET_KEY: stripe.secretKey,
      STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
      STRIPE_PRICE_PAID: "price_paid_test",
      STRIPE_PRICE_PRO: "price_pro_test",
    },
  });
});
afterAll(async () => stripe?.close());

const event = (type: string, object: Record<string, unknown>, id?: string) => stripeEvent(type, object, { id });

function deliver(payload: string, options: { secret?: string; timestamp?: number; signature?: string | null } = {}) {
  return deliverWebhook(payload, options.secret ?? WEBHOOK_SECRET, options);
}

async function account(accountId: string) {
  return (await getBillingAccount(app.db, accountId))!;
}

async function keyStatus(keyId: string) {
  return (
    await sql<{ status: string; suspended_reason: string | null }>(
      app.db,
      "select status, suspended_reason from tdk_api_keys where id = $1",
      [keyId],
    )
  )[0]!;
}

/** The key as its owner sees it: a key of a suspended account shows suspended, with the account's reason. */
async function keySeen(accountId: string, keyId: string) {
  const key = (await getApiKey(app.db, accountId, keyId))!;
  return { status: key.status, suspended_reason: key.suspended_reason };
}

/** The account checks out a tier at the stand-in, as a customer would, and Stripe reports it. */
async function subscribe(accountId: string, tier: "paid" | "pro") {
  const plan = await changePlan(
    { db: app.db, stripe: app.stripe!, prices: app.env.stripe!.prices, appUrl: "http://localhost:3000" },
    accountId,
    tier,
  );
  if (!plan.ok || plan.action !== "checkout") throw new Error(`expected a checkout, got ${JSON.stringify(plan)}`);
  const session = stripe.completeCheckout(plan.url.split("/").at(-1)!);
  const res = await deliver(event("checkout.session.completed", session));
  expect(res.status, res.text).toBe(200);
  return session.subscription as string;
}

/** A completed Checkout of the pro tier for the account, as Stripe reports it (ids `cs_`/`cus_`/`sub_` + `suffix`). */
function proCheckoutCompleted(accountId: string, suffix: string): string {
  return event("checkout.session.completed", {
    id: `cs_${suffix}`,
    object: "checkout.session",
    mode: "subscription",
    customer: `cus_${suffix}`,
    subscription: `sub_${suffix}`,
    client_reference_id: accountId,
    metadata: { tier: "pro" },
  });
}

describe("POST /api/webhooks/stripe: signatures and replays", () => {
  it("refuses a bad, missing or stale signature with 400 and does nothing", async () => {
    const caller = await createKeyedAccount(app);
    const payload = proCheckoutCompleted(caller.accountId, "x");
    const wrongSecret = await deliver(payload, { secret: "whsec_wrong" });
    expect(wrongSecret.status).toBe(400);
    expect(wrongSecret.json.error.code).toBe("invalid_signature");
    expect((await deliver(payload, { signature: null })).status).toBe(400);
    expect((await deliver(payload, { timestamp: Math.floor(Date.now() / 1000) - 3_600 })).status).toBe(400);
    const tampered = await deliver(payload.replace('"pro"', '"paid"'), { signature: signWebhook(payload, WEBHOOK_SECRET) });
    expect(tampered.status).toBe(400);
    expect((await account(caller.accountId)).tier).toBe("free");
  });

  it("refuses a body cut short by a sender that went away with 400 and does nothing", async () => {
    const caller = await createKeyedAccount(app);
    const payload = proCheckoutCompleted(caller.accountId, "cut");
    const request = requestCutShort("/api/webhooks/stripe", payload.slice(0, 60), {
      "stripe-signature": signWebhook(payload, WEBHOOK_SECRET),
    });
    const response = await webhook.POST(request, { params: Promise.resolve({}) });
    expect(response.status).toBe(400);
    expect((await response.json()).error).toMatchObject({ code: "invalid_json", message: expect.stringMatching(/did not arrive whole/) });
    expect((await account(caller.accountId)).tier).toBe("free");
  });

  it("processes each event id once: a replay is a 200 no-op", async () => {
    const caller = await createKeyedAccount(app);
    const customer = await ensureStripeCustomer(app.db, app.stripe!, await account(caller.accountId));
    const failed = event(
      "invoice.payment_failed",
      { id: "in_replay", object: "invoice", customer, total: 1234, period_start: 1_760_000_000, period_end: 1_762_600_000 },
      "evt_replay_failed",
    );
    const paid = event(
      "invoice.paid",
      { id: "in_replay", object: "invoice", customer, total: 1234, period_start: 1_760_000_000, period_end: 1_762_600_000 },
      "evt_replay_paid",
    );
    expect((await deliver(failed)).json.outcome).toBe("processed");
    expect(await keySeen(caller.accountId, caller.key.id)).toEqual({ status: "suspended", suspended_reason: "payment_failed" });
    expect((await deliver(paid)).json.outcome).toBe("processed");
    expect((await keySeen(caller.accountId, caller.key.id)).status).toBe("active");
    const replay = await deliver(failed);
    expect(replay.status).toBe(200);
    expect(replay.json.outcome).toBe("duplicate");
    expect((await keySeen(caller.accountId, caller.key.id)).status).toBe("active");
  });

  it("acknowledges and ignores unknown event types", async () => {
    const res = await deliver(event("customer.created", { id: "cus_new", object: "customer" }));
    expect(res.status).toBe(200);
    expect(res.json.outcome).toBe("ignored");
  });
});

describe("POST /api/webhooks/stripe: the handled events", () => {
  it("checkout.session.completed stores the customer and subscription (read back from Stripe) and sets the tier", async () => {
    const caller = await createKeyedAccount(app);
    const subscription = await subscribe(caller.accountId, "pro");
    expect(await account(caller.accountId)).toMatchObject({
      tier: "pro",
      stripe_subscription_id: subscription,
      subscription_status: "active",
      card_verified: true,
    });
    const retrieved = stripe.requests.filter((r) => r.method === "GET" && r.path === `/v1/subscriptions/${subscription}`);
    expect(retrieved).toHaveLength(1);
    const limits = await callRoute(call.POST, "POST", "/", { bearer: caller.apiKey, body: {} });
    expect(limits.headers.get("x-ratelimit-limit")).toBe("10000");
  });

  it("customer.subscription.updated and .deleted: the tier follows the subscription as Stripe has it now", async () => {
    const caller = await createKeyedAccount(app);
    const subscriptionId = await subscribe(caller.accountId, "paid");
    expect((await account(caller.accountId)).tier).toBe("paid");
    const updated = async () =>
      deliver(event("customer.subscription.updated", stripe.objects("subscription").find((sub) => sub.id === subscriptionId)!));

    // A price change made at Stripe (say in the portal): the event's copy and Stripe agree.
    const item = (stripe.objects("subscription").find((sub) => sub.id === subscriptionId)!.items as any).data[0].id;
    await app.stripe!.subscriptions.update(subscriptionId, { items: [{ id: item, price: "price_pro_test" }] });
    await updated();
    expect((await account(caller.accountId)).tier).toBe("pro");

    // past_due keeps the tier but suspends the account: nothing more is paid for it until an invoice is paid.
    stripe.setSubscriptionStatus(subscriptionId, "past_due");
    await updated();
    expect(await account(caller.accountId)).toMatchObject({ tier: "pro", suspended_reason: "payment_failed" });
    stripe.setSubscriptionStatus(subscriptionId, "unpaid");
    await updated();
    expect(await account(caller.accountId)).toMatchObject({ tier: "free", suspended_reason: "payment_failed" });
    // Back to active at Stripe: the tier returns; the suspension stays until invoice.paid.
    stripe.setSubscriptionStatus(subscriptionId, "active");
    await updated();
    expect(await account(caller.accountId)).toMatchObject({ tier: "pro", suspended_reason: "payment_failed" });

    await app.stripe!.subscriptions.cancel(subscriptionId);
    await deliver(event("customer.subscription.deleted", stripe.objects("subscription").find((sub) => sub.id === subscriptionId)!));
    expect(await account(caller.accountId)).toMatchObject({ tier: "free", stripe_subscription_id: null, subscription_status: "canceled" });
  });

  it("invoice.finalized, .payment_failed and .paid keep the billing period current and suspend then restore the account", async () => {
    const caller = await createKeyedAccount(app, { tier: "paid" });
    const customer = await ensureStripeCustomer(app.db, app.stripe!, await account(caller.accountId));
    const invoice = {
      id: "in_cycle",
      object: "invoice",
      customer,
      total: 4_321,
      period_start: 1_761_955_200,
      period_end: 1_764_547_200,
      parent: { subscription_details: { subscription: "sub_cycle" } },
    };
    const periods = async () =>
      await sql<any>(
        app.db,
        "select status, total_cost_micro::text as total, stripe_subscription_id as sub from tdk_billing_periods where stripe_invoice_id = 'in_cycle'",
      );

    await deliver(event("invoice.finalized", invoice));
    expect(await periods()).toEqual([{ status: "open", total: "43210000", sub: "sub_cycle" }]);

    await deliver(event("invoice.payment_failed", invoice));
    expect((await periods())[0].status).toBe("payment_failed");
    expect(await keySeen(caller.accountId, caller.key.id)).toEqual({ status: "suspended", suspended_reason: "payment_failed" });
    const refused = await callRoute(call.POST, "POST", "/", {
      bearer: caller.apiKey,
      body: { agent_id: "warmmemory", input: { action: "list" } },
    });
    expect(refused.status).toBe(403);
    expect(refused.json.error).toMatchObject({ code: "account_suspended", reason: "payment_failed" });

    await deliver(event("invoice.paid", invoice));
    expect((await periods())[0].status).toBe("paid");
    expect((await keySeen(caller.accountId, caller.key.id)).status).toBe("active");
    // A late "finalized" after "paid" does not undo the payment.
    await deliver(event("invoice.finalized", invoice));
    expect((await periods())[0].status).toBe("paid");
    expect(
      (await callRoute(call.POST, "POST", "/", { bearer: caller.apiKey, body: { agent_id: "warmmemory", input: { action: "list" } } }))
        .status,
    ).toBe(200);

    // Stripe's hosted invoice page is kept for the billing page (an event without it keeps the one known).
    await deliver(event("invoice.paid", { ...invoice, hosted_invoice_url: "https://invoice.stripe.test/i/in_cycle" }));
    await deliver(event("invoice.paid", invoice));
    const overview = await servicesFor(app).billing.overview((await getAccount(app.db, caller.accountId))!);
    expect(overview.invoices).toEqual([
      expect.objectContaining({
        stripe_invoice_id: "in_cycle",
        status: "paid",
        hosted_invoice_url: "https://invoice.stripe.test/i/in_cycle",
      }),
    ]);
    // The current period starts where the last invoice ended.
    expect(overview.currentPeriod.from).toBe(new Date(invoice.period_end * 1000).toISOString());
  });

  it("a paid invoice lifts only a payment suspension, not a revocation", async () => {
    const caller = await createKeyedAccount(app);
    const customer = await ensureStripeCustomer(app.db, app.stripe!, await account(caller.accountId));
    await sql(app.db, "select tdk_revoke_api_key($1, $2)", [caller.accountId, caller.key.id]);
    await deliver(
      event("invoice.paid", {
        id: "in_revoked",
        object: "invoice",
        customer,
        total: 0,
        period_start: 1_761_955_200,
        period_end: 1_764_547_200,
      }),
    );
    expect((await keyStatus(caller.key.id)).status).toBe("revoked");
  });
});

describe("POST /api/tdk/billing/checkout", () => {
  it("creates the customer once and answers a Checkout session URL for the metered price", async () => {
    const caller = await createKeyedAccount(app);
    const { email } = await account(caller.accountId);
    const session = (await callRoute(login.POST, "POST", "/", { body: { email, password: strongPassword } })).json.session_token;
    const first = await callRoute(checkout.POST, "POST", "/api/tdk/billing/checkout", { bearer: session, body: { tier: "pro" } });
    expect(first.status, first.text).toBe(200);
    expect(first.json.action).toBe("checkout");
    expect(first.json.url).toMatch(/^https:\/\/checkout\.stripe\.test\/c\/pay\/cs_test_/);
    const second = await callRoute(checkout.POST, "POST", "/", { bearer: session, body: {} });
    expect(second.status).toBe(200);
    const customers = stripe.requests.filter(
      (r) =>
        r.path === "/v1/customers" && r.body.metadata && (r.body.metadata as Record<string, string>).tdk_account_id === caller.accountId,
    );
    expect(new Set(customers.map((r) => r.headers["idempotency-key"])).size).toBe(1);
    const sessions = stripe.requests.filter((r) => r.path === "/v1/checkout/sessions" && r.body.client_reference_id === caller.accountId);
    expect(sessions.map((r) => (r.body.line_items as any)["0"].price)).toEqual(["price_pro_test", "price_paid_test"]);
    expect(sessions[0]!.body).toMatchObject({ mode: "subscription", customer: (await account(caller.accountId)).stripe_customer_id });
    expect((await callRoute(checkout.POST, "POST", "/", { bearer: session, body: { tier: "gold" } })).status).toBe(400);
    expect((await callRoute(checkout.POST, "POST", "/", { body: {} })).status).toBe(401);
  });
});
