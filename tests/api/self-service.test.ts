import { PublicKey } from "@solana/web3.js";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import * as account from "@/app/api/tdk/account/route";
import * as changePassword from "@/app/api/tdk/account/password/route";
import * as login from "@/app/api/tdk/auth/login/route";
import * as resetRequest from "@/app/api/tdk/auth/password-reset/route";
import * as resetConfirm from "@/app/api/tdk/auth/password-reset/confirm/route";
import * as register from "@/app/api/tdk/auth/register/route";
import * as rotate from "@/app/api/tdk/keys/[id]/rotate/route";
import * as keyRoute from "@/app/api/tdk/keys/[id]/route";
import * as keys from "@/app/api/tdk/keys/route";
import * as usage from "@/app/api/tdk/usage/route";
import * as call from "@/app/api/tdk/v1/call/route";
import * as me from "@/app/api/tdk/v1/me/route";
import { demoAgents, type LocalAgentDefinition } from "@/lib/agents/demo-agents";
import { setAppContext, type AppContext } from "@/lib/context";
import { servicesFor } from "@/lib/services";
import { z } from "zod";
import { callRoute, createKeyedAccount, createTestApp, faucetOf, origin, sql, strongPassword, uniqueEmail } from "../helpers/app";
import { logLines } from "../helpers/logs";
import { resetLinkIn, startSmtpServer, type SmtpStandIn } from "../helpers/smtp";
import { startStripeStandIn, type StripeStandIn } from "../helpers/stripe-standin";

/** An agent that answers who paid it: the caller_wallet the marketplace tells every agent. */
const whoAmI: LocalAgentDefinition = {
  id: "5d7c2a10-3e4f-4b8a-9c1d-0e2f3a4b5c6d",
  name: "whoami",
  description: "Answers the caller wallet it sees.",
  priceMicro: 1_000n,
  feeBps: 1_000,
  inputSchema: z.object({}).strict(),
  outputSchema: z.object({ caller_wallet: z.string() }),
  handle: async (_input, { callerWallet }) => ({ caller_wallet: callerWallet }),
};

let app: AppContext;
let smtp: SmtpStandIn;
let stripe: StripeStandIn;

beforeAll(async () => {
  smtp = await startSmtpServer();
  stripe = await startStripeStandIn();
  app = await createTestApp({
    agents: [...demoAgents(), whoAmI],
    stripe: stripe.client(),
    env: {
      SMTP_URL: smtp.url,
      MAIL_FROM: "TDK gateway <no-reply@tdk.test>",
      STRIPE_SECRET_KEY: stripe.secretKey,
      STRIPE_WEBHOOK_SECRET: "whsec_self_service",
      STRIPE_PRICE_PAID: "price_paid_test",
      STRIPE_PRICE_PRO: "price_pro_test",
    },
  });
});
afterAll(async () => {
  await smtp?.close();
  await stripe?.close();
});

const paid = (apiKey: string, body: unknown) => callRoute(call.POST, "POST", "/api/tdk/v1/call", { bearer: apiKey, body });

async function sessionOf(email: string, password = strongPassword): Promise<string> {
  const res = await callRoute(login.POST, "POST", "/", { body: { email, password } });
  expect(res.status, res.text).toBe(200);
  return res.json.session_token;
}

describe("sign-up logs in", () => {
  it("answers the account with a session token and sets the session cookie; the token works at once", async () => {
    const email = uniqueEmail("signup");
    const res = await callRoute(register.POST, "POST", "/", { body: { email, password: strongPassword } });
    expect(res.status, res.text).toBe(201);
    expect(res.json).toMatchObject({ account: { email, tier: "free" }, session_token: expect.stringMatching(/^tds_/) });
    expect(Date.parse(res.json.expires_at)).toBeGreaterThan(Date.now());
    expect(res.headers.get("set-cookie")).toContain(`tdk_session=${res.json.session_token}`);
    expect((await callRoute(keys.GET, "GET", "/", { bearer: res.json.session_token })).status).toBe(200);
  });
});

describe("GET /api/tdk/v1/me", () => {
  it("tells the key about itself: wallet and balances from the chain, spend limit left, quota, rate limits", async () => {
    const caller = await createKeyedAccount(app, { label: "me" });
    const session = await sessionOf(caller.email);
    await callRoute(keyRoute.PATCH, "PATCH", "/", {
      bearer: session,
      params: { id: caller.key.id },
      body: { spend_limit_usd: "1", spend_limit_period: "day" },
    });
    expect((await paid(caller.apiKey, { agent_id: "textstats", input: { text: "one two" } })).status).toBe(200);
    // Money moved on the chain outside the gateway shows at once: balances are read, not cached.
    await faucetOf(app).fund(new PublicKey(caller.key.wallet.public_key), 1_000_000n, 0n);

    const res = await callRoute(me.GET, "GET", "/api/tdk/v1/me", { bearer: caller.apiKey });
    expect(res.status, res.text).toBe(200);
    const onChain = await app.ledger.getUsdcBalance(new PublicKey(caller.key.wallet.public_key));
    expect(res.json.key).toMatchObject({
      id: caller.key.id,
      name: "test key",
      prefix: caller.apiKey.slice(0, 12),
      tier: "free",
      status: "active",
      suspended_reason: null,
      wallet: { public_key: caller.key.wallet.public_key, usdc_micro: Number(onChain) },
      spend_limit: { usd: "1.000000", period: "day", spent_usd: "0.003000", remaining_usd: "0.997000" },
    });
    expect(res.json.quota).toEqual({
      calls_this_month: 1,
      monthly_calls_limit: app.env.pricing.freeMonthlyQuota,
      free_allowance_usd: expect.stringMatching(/^\d+\.\d{6}$/),
      free_spent_usd: "0.002000",
    });
    expect(res.json.rate_limits).toEqual({ requests_per_minute: 100, marketplace_calls_per_wallet_per_minute: null });
    expect(res.headers.get("x-ratelimit-limit")).toBe("100");
    expect(res.text).not.toContain(caller.apiKey);
  });

  it("answers a suspended account 403 with its reason, a revoked key 401", async () => {
    const caller = await createKeyedAccount(app, { label: "me-suspended" });
    await sql(app.db, "update tdk_accounts set suspended_reason = 'payment_failed', suspended_at = now() where id = $1", [
      caller.accountId,
    ]);
    const res = await callRoute(me.GET, "GET", "/", { bearer: caller.apiKey });
    expect(res.status).toBe(403);
    expect(res.json.error).toMatchObject({ code: "account_suspended", reason: "payment_failed" });
  });
});

describe("POST /api/tdk/keys/{id}/rotate", () => {
  it("gives a new secret for the same key and wallet: the memory stored with the old secret is read with the new one, as the same caller", async () => {
    const caller = await createKeyedAccount(app, { label: "rotate" });
    const session = await sessionOf(caller.email);
    const stored = await paid(caller.apiKey, { agent_id: "warmmemory", input: { action: "store", key: "prefs", value: "dark" } });
    expect(stored.status, stored.text).toBe(200);
    const before = await paid(caller.apiKey, { agent_id: "whoami", input: {} });

    const res = await callRoute(rotate.POST, "POST", "/", { bearer: session, params: { id: caller.key.id }, body: {} });
    expect(res.status, res.text).toBe(200);
    const newKey: string = res.json.api_key;
    expect(newKey).toMatch(/^tk_test_/);
    expect(newKey).not.toBe(caller.apiKey);
    expect(res.json.key).toMatchObject({
      id: caller.key.id,
      prefix: newKey.slice(0, 12),
      wallet: { public_key: caller.key.wallet.public_key },
    });
    // 24 hours by default.
    const grace = Date.parse(res.json.previous_secret_expires_at) - Date.now();
    expect(grace).toBeGreaterThan(23.9 * 3_600_000);
    expect(grace).toBeLessThanOrEqual(24 * 3_600_000);

    const read = await paid(newKey, { agent_id: "warmmemory", input: { action: "get", key: "prefs" } });
    expect(read.json.output).toEqual({ found: true, key: "prefs", value: "dark" });
    const after = await paid(newKey, { agent_id: "whoami", input: {} });
    expect(after.json.output.caller_wallet).toBe(before.json.output.caller_wallet);
    expect(after.json.output.caller_wallet).toBe(caller.key.wallet.public_key);

    // The old secret works during the grace period, as the same key...
    const old = await callRoute(me.GET, "GET", "/", { bearer: caller.apiKey });
    expect(old.json.key.id).toBe(caller.key.id);
    // ...and is refused as revoked once it ends; the new one keeps working.
    await sql(app.db, "update tdk_api_keys set previous_key_expires_at = now() - interval '1 second' where id = $1", [caller.key.id]);
    const expired = await paid(caller.apiKey, { agent_id: "warmmemory", input: { action: "list" } });
    expect(expired.status).toBe(401);
    expect(expired.json.error.code).toBe("key_revoked");
    expect((await callRoute(me.GET, "GET", "/", { bearer: newKey })).status).toBe(200);
    // The full secrets are in no table.
    const dump = JSON.stringify(await sql(app.db, "select * from tdk_api_keys where id = $1", [caller.key.id]));
    expect(dump).not.toContain(newKey);
    expect(dump).not.toContain(caller.apiKey);
  });

  it("with grace_period_hours 0 the old secret stops at once; a second rotation ends the first one's grace; bounds are checked", async () => {
    const caller = await createKeyedAccount(app, { label: "rotate-now" });
    const session = await sessionOf(caller.email);
    const rotateWith = (body: unknown) => callRoute(rotate.POST, "POST", "/", { bearer: session, params: { id: caller.key.id }, body });

    for (const bad of [{ grace_period_hours: 169 }, { grace_period_hours: -1 }, { grace_period_hours: 1.5 }, { grace: 1 }]) {
      const res = await rotateWith(bad);
      expect(res.status, JSON.stringify(bad)).toBe(400);
      expect(res.json.error.code).toBe("validation_failed");
    }
    expect((await callRoute(me.GET, "GET", "/", { bearer: caller.apiKey })).status).toBe(200);

    const first = await rotateWith({ grace_period_hours: 168 });
    expect(first.status).toBe(200);
    const second = await rotateWith({ grace_period_hours: 0 });
    expect(second.status).toBe(200);
    for (const gone of [caller.apiKey, first.json.api_key]) {
      const res = await callRoute(me.GET, "GET", "/", { bearer: gone });
      expect(res.status).toBe(401);
      expect(res.json.error.code).toBe(gone === caller.apiKey ? "invalid_api_key" : "key_revoked");
    }
    expect((await callRoute(me.GET, "GET", "/", { bearer: second.json.api_key })).status).toBe(200);

    // A revoked key cannot be brought back by rotating it: its old and new secrets stay refused.
    await callRoute(keyRoute.DELETE, "DELETE", "/", { bearer: session, params: { id: caller.key.id } });
    const revoked = await rotateWith({});
    expect(revoked.status).toBe(409);
    expect((await callRoute(me.GET, "GET", "/", { bearer: second.json.api_key })).json.error.code).toBe("key_revoked");
  });
});

describe("passwords", () => {
  it("a change needs the current password and logs out every other session, not this one", async () => {
    const caller = await createKeyedAccount(app, { label: "password" });
    const email = caller.email;
    const [here, elsewhere] = [await sessionOf(email), await sessionOf(email)];
    const change = (current: string, next: string) =>
      callRoute(changePassword.POST, "POST", "/", { bearer: here, body: { current_password: current, new_password: next } });

    const wrong = await change("not-my-password-1", "brand-new-pass-77");
    expect(wrong.status).toBe(400);
    expect(wrong.json.error.fields).toEqual({ current_password: ["is incorrect"] });
    const weak = await change(strongPassword, "short");
    expect(weak.status).toBe(400);
    expect(Object.keys(weak.json.error.fields)).toEqual(["new_password"]);
    expect((await callRoute(keys.GET, "GET", "/", { bearer: elsewhere })).status).toBe(200);

    const res = await change(strongPassword, "brand-new-pass-77");
    expect(res.status, res.text).toBe(200);
    expect(res.json).toEqual({ changed: true, sessions_revoked: 1 });
    expect((await callRoute(keys.GET, "GET", "/", { bearer: here })).status).toBe(200);
    expect((await callRoute(keys.GET, "GET", "/", { bearer: elsewhere })).status).toBe(401);
    expect((await callRoute(login.POST, "POST", "/", { body: { email, password: strongPassword } })).status).toBe(401);
    await sessionOf(email, "brand-new-pass-77");
  });

  it("a forgotten password: the link arrives by SMTP, works once, expires, and the answer is the same for an unknown email", async () => {
    const caller = await createKeyedAccount(app, { label: "forgot" });
    const email = caller.email;
    const session = await sessionOf(email);
    const ask = (address: string, ip = "203.0.113.9") =>
      callRoute(resetRequest.POST, "POST", "/", { body: { email: address }, headers: { "x-forwarded-for": ip } });

    const before = smtp.mails.length;
    const known = await ask(email);
    const unknown = await ask(uniqueEmail("nobody"));
    expect(known.status).toBe(202);
    expect(unknown.status).toBe(202);
    expect(unknown.json).toEqual(known.json);
    expect(known.json).toEqual({ requested: true });
    // One mail, to the account's address only.
    expect(smtp.mails.length).toBe(before + 1);
    const mail = smtp.mails.at(-1)!;
    expect(mail.to).toEqual([email]);
    expect(mail.from).toBe("no-reply@tdk.test");
    const link = resetLinkIn(mail);
    expect(link.startsWith(`${origin}/reset-password?token=tdr_`)).toBe(true);
    const token = new URL(link).searchParams.get("token")!;
    // Only its hash is stored.
    expect(JSON.stringify(await sql(app.db, "select * from tdk_password_resets"))).not.toContain(token);

    const confirm = (t: string, password: string) =>
      callRoute(resetConfirm.POST, "POST", "/", { body: { token: t, new_password: password } });
    expect((await confirm(token, "short")).status).toBe(400);
    const used = await confirm(token, "reset-pass-word-88");
    expect(used.status, used.text).toBe(200);
    // Once only; every session of the account is logged out; the new password logs in.
    const again = await confirm(token, "another-pass-word-99");
    expect(again.status).toBe(400);
    expect(again.json.error.code).toBe("invalid_token");
    expect((await callRoute(keys.GET, "GET", "/", { bearer: session })).status).toBe(401);
    await sessionOf(email, "reset-pass-word-88");

    // An expired link is refused like a used one.
    await ask(email, "203.0.113.10");
    const late = new URL(resetLinkIn(smtp.mails.at(-1)!)).searchParams.get("token")!;
    await sql(app.db, "update tdk_password_resets set expires_at = created_at + interval '1 millisecond'");
    expect((await confirm(late, "late-pass-word-11")).json.error.code).toBe("invalid_token");

    // At most 3 links an hour to one address, whatever the client.
    const flood = await Promise.all([1, 2, 3].map((i) => ask(email, `203.0.113.${20 + i}`)));
    expect(flood.map((res) => res.status)).toContain(429);
  });

  it("without SMTP the link is printed in the server log in development only", async () => {
    const withoutMail = async (nodeEnv: string) => {
      const local = await createTestApp({ env: { NODE_ENV: nodeEnv } });
      const caller = await createKeyedAccount(local, { label: `nomail-${nodeEnv}` });
      const lines: string[] = [];
      const logged = logLines().length;
      const log = vi.spyOn(console, "log").mockImplementation((line: string) => void lines.push(String(line)));
      try {
        await servicesFor(local).accounts.requestPasswordReset(caller.email, origin);
      } finally {
        log.mockRestore();
      }
      // The console (the development link) and the structured log (the operator's warning).
      return [
        ...lines,
        ...logLines()
          .slice(logged)
          .map((line) => JSON.stringify(line)),
      ].join("\n");
    };
    try {
      expect(await withoutMail("development")).toMatch(/reset-password\?token=tdr_/);
      const production = await withoutMail("test");
      expect(production).not.toContain("tdr_");
      expect(production).toContain("no SMTP_URL");
    } finally {
      setAppContext(app);
    }
  });
});

describe("DELETE /api/tdk/account", () => {
  it("revokes the keys, sweeps the wallets, stops the plan at period end, erases the person and keeps the usage", async () => {
    const caller = await createKeyedAccount(app, { label: "delete", tier: "paid" });
    const email = caller.email;
    const session = await sessionOf(email);
    // A live subscription at Stripe (the stand-in), checked out as a customer does; the webhook's effect recorded.
    const plan = await servicesFor(app).billing.changePlan(caller.accountId, "pro", origin);
    if (plan.action !== "checkout") throw new Error("expected a checkout");
    const completed = stripe.completeCheckout(plan.url.split("/").at(-1)!);
    const subscriptionId = completed.subscription as string;
    await sql(app.db, "update tdk_accounts set stripe_subscription_id = $2, subscription_status = 'active' where id = $1", [
      caller.accountId,
      subscriptionId,
    ]);
    expect((await paid(caller.apiKey, { agent_id: "textstats", input: { text: "before deletion" } })).status).toBe(200);
    const wallet = new PublicKey(caller.key.wallet.public_key);
    const treasuryBefore = await sql<{ public_key: string }>(app.db, "select public_key from tdk_treasury");
    const treasury = new PublicKey(treasuryBefore[0]!.public_key);
    const [walletUsdc, treasuryUsdc] = [await app.ledger.getUsdcBalance(wallet), await app.ledger.getUsdcBalance(treasury)];
    expect(walletUsdc).toBeGreaterThan(0n);

    const wrong = await callRoute(account.DELETE, "DELETE", "/", { bearer: session, body: { password: "not-the-password-1" } });
    expect(wrong.status).toBe(400);
    expect((await callRoute(me.GET, "GET", "/", { bearer: caller.apiKey })).status).toBe(200);

    const res = await callRoute(account.DELETE, "DELETE", "/", { bearer: session, body: { password: strongPassword } });
    expect(res.status, res.text).toBe(200);
    expect(res.json).toEqual({ deleted: true, keys_revoked: 1, wallets_swept: 1, subscription: "cancels_at_period_end" });
    const atStripe = stripe.objects("subscription").find((candidate) => candidate.id === subscriptionId)!;
    expect(atStripe.cancel_at_period_end).toBe(true);
    expect(res.headers.get("set-cookie")).toMatch(/tdk_session=;/);

    // Keys: refused as revoked; the wallet is empty and its USDC is back in the treasury.
    expect((await paid(caller.apiKey, { agent_id: "textstats", input: { text: "after" } })).json.error.code).toBe("key_revoked");
    expect(await app.ledger.getUsdcBalance(wallet)).toBe(0n);
    expect(await app.ledger.getUsdcBalance(treasury)).toBe(treasuryUsdc + walletUsdc);
    // The person: no email, no login, no session.
    const row = (
      await sql<{ email: string; deleted_at: string | null }>(app.db, "select email, deleted_at from tdk_accounts where id = $1", [
        caller.accountId,
      ])
    )[0]!;
    expect(row.email).not.toContain(email.split("@")[0]!);
    expect(row.email).toMatch(/@deleted\.invalid$/);
    expect(row.deleted_at).not.toBeNull();
    expect((await callRoute(login.POST, "POST", "/", { body: { email, password: strongPassword } })).status).toBe(401);
    expect((await callRoute(keys.GET, "GET", "/", { bearer: session })).status).toBe(401);
    expect(await sql(app.db, "select 1 from tdk_sessions where account_id = $1", [caller.accountId])).toEqual([]);
    // The books: the usage rows stay, under the account's (now pseudonymous) id.
    const rows = await sql<{ status: string }>(app.db, "select status from tdk_usage where account_id = $1", [caller.accountId]);
    expect(rows.map((r) => r.status)).toEqual(["succeeded"]);
    // The email can sign up again, as a new account.
    expect((await callRoute(register.POST, "POST", "/", { body: { email, password: strongPassword } })).status).toBe(201);
  });
});

describe("usage filters and labels", () => {
  it("filters the history by agent and status, in JSON and CSV, and bills a free account nothing", async () => {
    const caller = await createKeyedAccount(app, { label: "filters" });
    const session = await sessionOf(caller.email);
    await paid(caller.apiKey, { agent_id: "textstats", input: { text: "a b" } });
    await paid(caller.apiKey, { agent_id: "warmmemory", input: { action: "list" } });
    await paid(caller.apiKey, { agent_id: "nonexistent-agent", input: {} });

    const all = await callRoute(usage.GET, "GET", "/api/tdk/usage", { bearer: session });
    expect(all.json.usage).toHaveLength(2);
    const byAgent = await callRoute(usage.GET, "GET", "/api/tdk/usage?agent_id=3b8e1f27-6c4a-4d09-b5e2-7a1c9d3f5e22", { bearer: session });
    expect(byAgent.json.usage.map((u: { agent_name: string }) => u.agent_name)).toEqual(["textstats"]);
    expect(byAgent.json.usage[0]).toMatchObject({
      status: "succeeded",
      developer_cost_usd: "0.003000",
      billed_usd: "0.000000",
      tier: "free",
    });
    const failed = await callRoute(usage.GET, "GET", "/api/tdk/usage?status=failed", { bearer: session });
    expect(failed.json.usage).toEqual([]);
    const bad = await callRoute(usage.GET, "GET", "/api/tdk/usage?status=paid", { bearer: session });
    expect(bad.status).toBe(400);
    const csv = await callRoute(usage.GET, "GET", "/api/tdk/usage?format=csv&agent_id=9f0c6a52-5d1e-4c3b-8a7e-2b6f1d0e4a11", {
      bearer: session,
    });
    expect(csv.text.trim().split("\r\n")).toHaveLength(2);
    expect(csv.text).toContain("warmmemory");
    expect(csv.text).not.toContain("textstats");
  });
});
