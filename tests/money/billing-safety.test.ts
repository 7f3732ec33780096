import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PublicKey } from "@solana/web3.js";
import * as card from "@/app/api/tdk/billing/card/route";
import * as checkout from "@/app/api/tdk/billing/checkout/route";
import * as portal from "@/app/api/tdk/billing/portal/route";
import * as generate from "@/app/api/tdk/keys/generate/route";
import * as login from "@/app/api/tdk/auth/login/route";
import * as register from "@/app/api/tdk/auth/register/route";
import * as call from "@/app/api/tdk/v1/call/route";
import { getBillingAccount } from "@/lib/billing/customers";
import type { AppContext } from "@/lib/context";
import { fundWallets } from "@/lib/solana/funding";
import { callRoute, createKeyedAccount, createTestApp, sql, strongPassword, uniqueEmail } from "../helpers/app";
import { concurrencyBackends } from "../helpers/postgres";
import { deliverWebhook, stripeEvent } from "../helpers/stripe-events";
import { startStripeStandIn, type StripeStandIn } from "../helpers/stripe-standin";
import { servicesFor } from "@/lib/services";

/**
 * The billing side of money safety, on PGlite and on the real PostgreSQL, with the real `stripe`
 * client against the Stripe stand-in and signed webhooks: a suspended account gets nothing out,
 * a plan change keeps one subscription, late or concurrent webhooks cannot bring back a state
 * Stripe has left or run a handler twice, and the free tier needs a card (one allowance per card).
 */
const WEBHOOK_SECRET = "whsec_money_safety_tests";
const PRICES = { STRIPE_PRICE_PAID: "price_paid_money", STRIPE_PRICE_PRO: "price_pro_money" };

describe.each(concurrencyBackends())("billing safety on $name", (backend) => {
  let app: AppContext;
  let stripe: StripeStandIn;
  let close: () => Promise<void>;
  beforeAll(async () => {
    const opened = await backend.open();
    close = opened.close;
    stripe = await startStripeStandIn();
    app = await createTestApp({
      db: opened.db,
      stripe: stripe.client(),
      env: { STRIPE_SECRET_KEY: stripe.secretKey, STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET, ...PRICES },
    });
  });
  afterAll(async () => {
    await stripe?.close();
    await close?.();
  });

  const deliver = (type: string, object: Record<string, unknown>, options: { id?: string; created?: number } = {}) =>
    deliverWebhook(stripeEvent(type, object, options), WEBHOOK_SECRET);
  const account = async (accountId: string) => (await getBillingAccount(app.db, accountId))!;

  async function sessionOf(accountId: string) {
    const { email } = await account(accountId);
    return (await callRoute(login.POST, "POST", "/", { body: { email, password: strongPassword } })).json.session_token as string;
  }

  /** The account checks out a tier (the route), completes it at the stand-in, and Stripe reports it. */
  async function subscribe(session: string, tier: "paid" | "pro", cardFingerprint?: string) {
    const res = await callRoute(checkout.POST, "POST", "/", { bearer: session, body: { tier } });
    expect(res.json.action, res.text).toBe("checkout");
    const completed = stripe.completeCheckout(res.json.url.split("/").at(-1), { cardFingerprint });
    expect((await deliver("checkout.session.completed", completed)).status).toBe(200);
    return completed.subscription as string;
  }

  it("after invoice.payment_failed the account creates, funds and calls nothing (account_suspended); invoice.paid lifts it", async () => {
    const caller = await createKeyedAccount(app, { tier: "paid" });
    const session = await sessionOf(caller.accountId);
    await subscribe(session, "paid");
    const customer = (await account(caller.accountId)).stripe_customer_id!;
    const invoice = {
      id: `in_${caller.accountId.slice(0, 8)}`,
      object: "invoice",
      customer,
      total: 500,
      period_start: 1_761_955_200,
      period_end: 1_764_547_200,
    };
    const treasuryBefore = await app.ledger.getUsdcBalance((await servicesFor(app).funding.deps())!.treasury.publicKey);

    expect((await deliver("invoice.payment_failed", invoice)).status).toBe(200);
    const created = await callRoute(generate.POST, "POST", "/", { bearer: session, body: { name: "while suspended" } });
    expect(created.status).toBe(403);
    expect(created.json.error).toMatchObject({ code: "account_suspended", reason: "payment_failed" });
    const funding = await fundWallets((await servicesFor(app).funding.deps())!, [
      {
        keyId: caller.key.id,
        wallet: new PublicKey(caller.key.wallet.public_key),
        reason: "topup",
        usdcMicro: 1_000_000n,
        solLamports: 0n,
        usdcAccountExists: true,
      },
    ]);
    expect(funding).toMatchObject({ fundings: [], refused: [{ keyId: caller.key.id, code: "account_suspended" }] });
    const called = await callRoute(call.POST, "POST", "/", {
      bearer: caller.apiKey,
      body: { agent_id: "warmmemory", input: { action: "list" } },
    });
    expect(called.status).toBe(403);
    expect(called.json.error).toMatchObject({ code: "account_suspended", reason: "payment_failed" });
    // past_due keeps it suspended: only a paid invoice lifts it.
    stripe.setSubscriptionStatus((await account(caller.accountId)).stripe_subscription_id!, "past_due");
    await deliver("customer.subscription.updated", {
      id: (await account(caller.accountId)).stripe_subscription_id!,
      object: "subscription",
      customer,
      status: "active",
    });
    expect(await account(caller.accountId)).toMatchObject({ tier: "paid", suspended_reason: "payment_failed" });
    expect(await app.ledger.getUsdcBalance((await servicesFor(app).funding.deps())!.treasury.publicKey)).toBe(treasuryBefore);

    expect((await deliver("invoice.paid", invoice)).status).toBe(200);
    expect((await account(caller.accountId)).suspended_reason).toBeNull();
    expect((await callRoute(generate.POST, "POST", "/", { bearer: session, body: { name: "after payment" } })).status).toBe(201);
    expect(
      (await callRoute(call.POST, "POST", "/", { bearer: caller.apiKey, body: { agent_id: "warmmemory", input: { action: "list" } } }))
        .status,
    ).toBe(200);
  });

  it("paid → pro (and back) changes the price of the one subscription: exactly one active subscription at Stripe, no second checkout", async () => {
    const caller = await createKeyedAccount(app);
    const session = await sessionOf(caller.accountId);
    const subscriptionId = await subscribe(session, "paid");
    expect((await account(caller.accountId)).tier).toBe("paid");
    const checkoutsBefore = stripe.objects("checkout.session").length;

    const upgraded = await callRoute(checkout.POST, "POST", "/", { bearer: session, body: { tier: "pro" } });
    expect(upgraded.status, upgraded.text).toBe(200);
    expect(upgraded.json).toEqual({ action: "updated", tier: "pro" });
    expect((await account(caller.accountId)).tier).toBe("pro");
    const customer = (await account(caller.accountId)).stripe_customer_id;
    const live = stripe.objects("subscription").filter((sub) => sub.customer === customer && sub.status === "active");
    expect(live.map((sub) => sub.id)).toEqual([subscriptionId]);
    expect((live[0]!.items as { data: { price: { id: string } }[] }).data.map((item) => item.price.id)).toEqual([PRICES.STRIPE_PRICE_PRO]);
    expect(live[0]!.last_proration_behavior).toBe("create_prorations");
    expect(stripe.objects("checkout.session")).toHaveLength(checkoutsBefore);

    // The same tier again is a conflict, not a second change; back to paid is the same subscription again.
    expect((await callRoute(checkout.POST, "POST", "/", { bearer: session, body: { tier: "pro" } })).status).toBe(409);
    expect((await callRoute(checkout.POST, "POST", "/", { bearer: session, body: { tier: "paid" } })).json).toEqual({
      action: "updated",
      tier: "paid",
    });
    expect(stripe.objects("subscription").filter((sub) => sub.customer === customer && sub.status === "active")).toHaveLength(1);

    // A second completed checkout (two tabs) would bill the same usage twice: it is canceled, the first kept.
    const duplicate = await app.stripe!.checkout.sessions.create({
      mode: "subscription",
      customer: customer!,
      line_items: [{ price: PRICES.STRIPE_PRICE_PRO }],
      client_reference_id: caller.accountId,
      success_url: "http://localhost/x",
      subscription_data: { metadata: { tdk_account_id: caller.accountId, tier: "pro" } },
    });
    const completed = stripe.completeCheckout(duplicate.id);
    expect((await deliver("checkout.session.completed", completed)).status).toBe(200);
    expect(
      stripe
        .objects("subscription")
        .filter((sub) => sub.customer === customer && sub.status === "active")
        .map((sub) => sub.id),
    ).toEqual([subscriptionId]);
    expect(await account(caller.accountId)).toMatchObject({ tier: "paid", stripe_subscription_id: subscriptionId });

    // Cancel and card changes go through Stripe's Billing Portal.
    const portalSession = await callRoute(portal.POST, "POST", "/", { bearer: session });
    expect(portalSession.status).toBe(200);
    expect(portalSession.json.url).toMatch(/^https:\/\/billing\.stripe\.test\/p\/session\//);
    expect(stripe.objects("billing_portal.session").at(-1)).toMatchObject({ customer, return_url: "http://localhost:3000/dashboard" });
  });

  it("out-of-order webhooks: deleted, then a stale updated(active), leave the account free", async () => {
    const caller = await createKeyedAccount(app);
    const session = await sessionOf(caller.accountId);
    const subscriptionId = await subscribe(session, "pro");
    const stale = { ...stripe.objects("subscription").find((sub) => sub.id === subscriptionId)! };
    await app.stripe!.subscriptions.cancel(subscriptionId);
    const now = Math.floor(Date.now() / 1000);
    expect((await deliver("customer.subscription.deleted", { ...stale, status: "canceled" }, { created: now })).status).toBe(200);
    expect(await account(caller.accountId)).toMatchObject({ tier: "free", stripe_subscription_id: null });
    // Stripe delivers an older update late: its copy says active; Stripe says canceled.
    expect((await deliver("customer.subscription.updated", { ...stale, status: "active" }, { created: now - 60 })).status).toBe(200);
    expect(await account(caller.accountId)).toMatchObject({ tier: "free", stripe_subscription_id: null, subscription_status: "canceled" });
    const limits = await callRoute(call.POST, "POST", "/", { bearer: caller.apiKey, body: {} });
    expect(limits.headers.get("x-ratelimit-limit")).toBe("100");
  });

  it("two concurrent deliveries of one event run its handler once", async () => {
    const caller = await createKeyedAccount(app);
    const session = await sessionOf(caller.accountId);
    const res = await callRoute(checkout.POST, "POST", "/", { bearer: session, body: { tier: "paid" } });
    const completed = stripe.completeCheckout(res.json.url.split("/").at(-1));
    const payload = stripeEvent("checkout.session.completed", completed, { id: `evt_concurrent_${caller.accountId}` });
    // Hold Stripe's answer to the handler's read so that the two deliveries overlap for sure.
    stripe.setDelay(`/v1/subscriptions/${completed.subscription}`, 300);
    try {
      const answers = await Promise.all([deliverWebhook(payload, WEBHOOK_SECRET), deliverWebhook(payload, WEBHOOK_SECRET)]);
      expect(answers.map((answer) => answer.status).sort()).toEqual([200, 409]);
      expect(answers.find((answer) => answer.status === 409)!.json.error.code).toBe("conflict");
    } finally {
      stripe.setDelay(`/v1/subscriptions/${completed.subscription}`, 0);
    }
    const reads = stripe.requests.filter(
      (request) => request.method === "GET" && request.path === `/v1/subscriptions/${completed.subscription}`,
    );
    expect(reads).toHaveLength(1);
    // Stripe's later redelivery of the refused one is a no-op.
    const again = await deliverWebhook(payload, WEBHOOK_SECRET);
    expect(again.json).toMatchObject({ outcome: "duplicate" });
    expect((await account(caller.accountId)).tier).toBe("paid");
  });

  it("card-verified free tier: nothing is funded or called before a card is saved (setup-mode Checkout); one free allowance per card", async () => {
    const email = uniqueEmail("card");
    await callRoute(register.POST, "POST", "/", { body: { email, password: strongPassword } });
    const session = (await callRoute(login.POST, "POST", "/", { body: { email, password: strongPassword } })).json.session_token;
    const created = await callRoute(generate.POST, "POST", "/", { bearer: session, body: { name: "free" } });
    expect(created.status).toBe(201);
    expect(created.json.funding).toEqual({ status: "not_funded", reason: "card_required" });
    expect(created.json.key.wallet.usdc_micro).toBe(0);
    const apiKey = created.json.api_key;
    const refused = await callRoute(call.POST, "POST", "/", {
      bearer: apiKey,
      body: { agent_id: "warmmemory", input: { action: "list" } },
    });
    expect(refused.status).toBe(402);
    expect(refused.json.error).toMatchObject({ code: "card_required", url: "http://localhost:3000/billing/card" });
    expect(await sql(app.db, "select 1 from tdk_wallet_fundings where api_key_id = $1", [created.json.key.id])).toEqual([]);

    // Save a card through Stripe Checkout in setup mode.
    const setup = await callRoute(card.POST, "POST", "/", { bearer: session });
    expect(setup.status, setup.text).toBe(200);
    const setupSession = stripe.objects("checkout.session").find((object) => setup.json.url.endsWith(object.id as string))!;
    expect(setupSession).toMatchObject({ mode: "setup", allowed_payment_method_types: { "0": "card" } });
    const fingerprint = `fp_shared_${created.json.key.id.slice(0, 8)}`;
    expect(
      (await deliver("checkout.session.completed", stripe.completeCheckout(setupSession.id as string, { cardFingerprint: fingerprint })))
        .status,
    ).toBe(200);
    const owner = (await sql<{ id: string }>(app.db, "select account_id as id from tdk_api_keys where id = $1", [created.json.key.id]))[0]!
      .id;
    expect(await account(owner)).toMatchObject({ card_verified: true, free_allowance: true });
    // The key is funded on its first call (a top-up within the caps), and calls.
    const ok = await callRoute(call.POST, "POST", "/", { bearer: apiKey, body: { agent_id: "warmmemory", input: { action: "list" } } });
    expect(ok.status, ok.text).toBe(200);

    // Another account with the same card: verified, but no second free allowance; its wallet is not funded.
    const other = await createKeyedAccount(app, { verifyCard: false, label: "same-card" });
    const otherSession = await sessionOf(other.accountId);
    const otherSetup = await callRoute(card.POST, "POST", "/", { bearer: otherSession });
    const otherId = otherSetup.json.url.split("/").at(-1);
    expect((await deliver("checkout.session.completed", stripe.completeCheckout(otherId, { cardFingerprint: fingerprint }))).status).toBe(
      200,
    );
    expect(await account(other.accountId)).toMatchObject({ card_verified: true, free_allowance: false });
    const noAllowance = await callRoute(call.POST, "POST", "/", {
      bearer: other.apiKey,
      body: { agent_id: "warmmemory", input: { action: "list" } },
    });
    expect(noAllowance.status).toBe(402);
    expect(noAllowance.json.error).toMatchObject({ code: "free_allowance_exhausted", allowance_usd: "0.000000" });
    expect(await app.ledger.getUsdcBalance(new PublicKey(other.key.wallet.public_key))).toBe(0n);
    expect(await sql(app.db, "select 1 from tdk_wallet_fundings where api_key_id = $1 and status = 'confirmed'", [other.key.id])).toEqual(
      [],
    );

    // A completed setup of another customer, claimed for this account, records nothing.
    const third = await createKeyedAccount(app, { verifyCard: false, label: "forged-setup" });
    const stolen = stripe.objects("setup_intent").at(-1)!;
    const forged = {
      id: "cs_forged",
      object: "checkout.session",
      mode: "setup",
      client_reference_id: third.accountId,
      metadata: {},
      setup_intent: stolen.id,
    };
    expect((await deliver("checkout.session.completed", forged)).status).toBe(200);
    expect(await account(third.accountId)).toMatchObject({ card_verified: false });
  });
});
