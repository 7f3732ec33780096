import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PublicKey } from "@solana/web3.js";
import { z } from "zod";
import * as agentsRoute from "@/app/api/tdk/v1/agents/route";
import * as call from "@/app/api/tdk/v1/call/route";
import * as login from "@/app/api/tdk/auth/login/route";
import * as one from "@/app/api/tdk/keys/[id]/route";
import { demoAgents, type LocalAgentDefinition } from "@/lib/agents/demo-agents";
import type { AppContext } from "@/lib/context";
import { getBillingAccount } from "@/lib/billing/customers";
import { callRoute, createKeyedAccount, createTestApp, sql, strongPassword } from "../helpers/app";
import { concurrencyBackends } from "../helpers/postgres";

/**
 * What a free account, an agent owner or a leaked key can get out without it being billed, replayed
 * and bounded, on PGlite and on the real PostgreSQL: agents that fail after being paid (free
 * allowance, paid accounts' daily cap, the circuit breaker), agents priced above the gateway's
 * maximum, and the developer's own bounds (spend limits under concurrency, max_cost_usd).
 */
const text = z.object({ text: z.string() }).strict();
const agent = (id: string, name: string, priceMicro: bigint, handle: LocalAgentDefinition["handle"]): LocalAgentDefinition => ({
  id,
  name,
  description: name,
  priceMicro,
  feeBps: 0,
  inputSchema: text,
  outputSchema: z.unknown(),
  handle,
});
const fail = async () => {
  throw new Error("upstream model overloaded");
};
// An agent owner's scheme: take the payment, then fail.
const takesAndFails = agent("1f0e2d3c-4b5a-4697-8887-a1b2c3d4e5f6", "takes-and-fails", 900_000n, fail);
const alsoFails = agent("2f0e2d3c-4b5a-4697-8887-a1b2c3d4e5f6", "also-fails", 900_000n, fail);
const pricey = agent("3f0e2d3c-4b5a-4697-8887-a1b2c3d4e5f6", "pricey", 800_000n, async () => ({ ok: true }));
const overMax = agent("4f0e2d3c-4b5a-4697-8887-a1b2c3d4e5f6", "luxury", 5_000_000n, async () => ({ ok: true }));

describe.each(concurrencyBackends())("unbilled spend on $name", (backend) => {
  let app: AppContext;
  let close: () => Promise<void>;
  beforeAll(async () => {
    const opened = await backend.open();
    close = opened.close;
    app = await createTestApp({
      db: opened.db,
      // A paid account may lose $2 a day to agents that fail after payment (default $10).
      env: { AGENT_FAILED_DAILY_CAP_PAID_MICRO: "2000000" },
      agents: [...demoAgents(), takesAndFails, alsoFails, pricey, overMax],
      // These tests race one key's calls on purpose; the real builder's identical payments would
      // land one per slot (tests/calls/marketplace-behaviour.test.ts), so each payment is made unique.
      marketplace: { memo: true },
    });
  });
  afterAll(async () => close?.());

  const owner = (definition: LocalAgentDefinition) => async () => {
    const catalog = await app.agents.client.listAgents();
    const ownerWallet = new PublicKey(catalog.find((entry) => entry.id === definition.id)!.owner_wallet);
    return app.ledger.getUsdcBalance(ownerWallet);
  };
  const callAgent = (apiKey: string, name: string, extra: Record<string, unknown> = {}) =>
    callRoute(call.POST, "POST", "/", { bearer: apiKey, body: { agent_id: name, input: { text: "hello" }, ...extra } });

  it("a free account calling an agent that fails after payment: the owner gets at most the free allowance, and the breaker cuts the agent off for everyone", async () => {
    const ownerBalance = owner(takesAndFails);
    const attacker = await createKeyedAccount(app, { label: "attacker" });
    const codes: string[] = [];
    for (let i = 0; i < 10; i += 1) codes.push((await callAgent(attacker.apiKey, "takes-and-fails")).json.error.code);
    // Five failures after payment open the breaker (5 in 10 minutes); nothing more is paid.
    expect(codes).toEqual([...Array(5).fill("agent_failed"), ...Array(5).fill("agent_unavailable")]);
    const taken = await ownerBalance();
    expect(taken).toBe(4_500_000n);
    expect(taken).toBeLessThanOrEqual(app.env.limits.freeMonthlyAllowanceMicro);

    // Another account: refused before anything is reserved, with Retry-After; the catalog says so.
    const other = await createKeyedAccount(app, { label: "bystander" });
    const refused = await callAgent(other.apiKey, "takes-and-fails");
    expect(refused.status).toBe(503);
    expect(refused.json.error).toMatchObject({ code: "agent_unavailable", paid: false });
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(500);
    expect(await ownerBalance()).toBe(taken);
    expect(await sql(app.db, "select 1 from tdk_usage where api_key_id = $1", [other.key.id])).toEqual([]);
    const catalog = (await callRoute(agentsRoute.GET, "GET", "/api/tdk/v1/agents")).json.agents;
    expect(catalog.find((entry: { name: string }) => entry.name === "takes-and-fails")).toMatchObject({
      callable: false,
      not_callable_reason: "circuit_open",
    });

    // The failures were paid by the treasury, never billed: agent_failed, not_billable.
    const rows = await sql<{ status: string; billing_status: string }>(
      app.db,
      "select status::text, billing_status::text from tdk_usage where api_key_id = $1",
      [attacker.key.id],
    );
    expect(rows).toHaveLength(5);
    expect(rows.every((row) => row.status === "agent_failed" && row.billing_status === "not_billable")).toBe(true);
  });

  it("the free allowance bounds a free account's spend on its own: agent cost, failures included, never past it", async () => {
    const caller = await createKeyedAccount(app, { label: "allowance" });
    const before = await app.ledger.getUsdcBalance(new PublicKey(caller.key.wallet.public_key));
    let paid = 0n;
    for (;;) {
      const res = await callAgent(caller.apiKey, "pricey");
      if (res.status !== 200) {
        expect(res.status).toBe(402);
        expect(res.json.error).toMatchObject({
          code: "free_allowance_exhausted",
          allowance_usd: "5.000000",
          spent_usd: "4.800000",
          required_usd: "0.800000",
        });
        break;
      }
      paid += BigInt(res.json.usage.agent_cost_micro);
    }
    expect(paid).toBe(4_800_000n);
    // The wallet was never funded past what the allowance could still spend.
    const funded = (
      await sql<{ usdc: string }>(
        app.db,
        "select coalesce(sum(usdc_micro), 0)::text as usdc from tdk_wallet_fundings where api_key_id = $1 and status = 'confirmed'",
        [caller.key.id],
      )
    )[0]!;
    expect(BigInt(funded.usdc)).toBeLessThanOrEqual(app.env.limits.freeMonthlyAllowanceMicro);
    expect(before - (await app.ledger.getUsdcBalance(new PublicKey(caller.key.wallet.public_key)))).toBe(paid);
    expect((await getBillingAccount(app.db, caller.accountId))!.tier).toBe("free");
  });

  it("a paid account's spend on calls that fail after payment is capped per day", async () => {
    const caller = await createKeyedAccount(app, { tier: "paid", label: "paid-failures" });
    const ownerBalance = owner(alsoFails);
    const first = await callAgent(caller.apiKey, "also-fails");
    const second = await callAgent(caller.apiKey, "also-fails");
    expect([first.json.error.code, second.json.error.code]).toEqual(["agent_failed", "agent_failed"]);
    // $1.80 lost today; another $0.90 would pass the $2 cap.
    const third = await callAgent(caller.apiKey, "also-fails");
    expect(third.status).toBe(429);
    expect(third.json.error).toMatchObject({ code: "agent_failure_cap_reached", cap_usd: "2.000000", failed_today_usd: "1.800000" });
    expect(Number(third.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(await ownerBalance()).toBe(1_800_000n);
    // Cheap calls that fit under the cap still go through (they could fail too: in flight counts).
    expect((await callAgent(caller.apiKey, "textstats")).status).toBe(200);
  });

  it("an agent priced above the gateway's maximum is listed as not callable and never paid", async () => {
    const caller = await createKeyedAccount(app, { tier: "pro", label: "luxury" });
    const catalog = (await callRoute(agentsRoute.GET, "GET", "/api/tdk/v1/agents")).json;
    expect(catalog.max_agent_price_usd).toBe("1.000000");
    expect(catalog.agents.find((entry: { name: string }) => entry.name === "luxury")).toMatchObject({
      callable: false,
      not_callable_reason: "price_above_maximum",
      agent_cost_usd: "5.000000",
    });
    const res = await callAgent(caller.apiKey, "luxury");
    expect(res.status).toBe(403);
    expect(res.json.error).toMatchObject({ code: "agent_not_callable", max_agent_price_usd: "1.000000" });
    expect(await owner(overMax)()).toBe(0n);
    expect(await sql(app.db, "select 1 from tdk_usage where agent_id = $1", [overMax.id])).toEqual([]);
  });

  it("max_cost_usd: an agent whose price to you is above it is refused before anything is reserved or paid", async () => {
    const caller = await createKeyedAccount(app, { label: "max-cost" });
    const wallet = new PublicKey(caller.key.wallet.public_key);
    const before = await app.ledger.getUsdcBalance(wallet);
    const over = await callRoute(call.POST, "POST", "/", {
      bearer: caller.apiKey,
      body: { agent_id: "warmmemory", input: { action: "list" }, max_cost_usd: "0.001" },
    });
    expect(over.status).toBe(402);
    expect(over.json.error).toMatchObject({
      code: "max_cost_exceeded",
      developer_cost_usd: "0.001500",
      max_cost_usd: "0.001000",
      paid: false,
    });
    expect(await sql(app.db, "select 1 from tdk_usage where api_key_id = $1", [caller.key.id])).toEqual([]);
    expect(await app.ledger.getUsdcBalance(wallet)).toBe(before);
    for (const max of ["0.0015", 0.0015, "1"]) {
      const ok = await callRoute(call.POST, "POST", "/", {
        bearer: caller.apiKey,
        body: { agent_id: "warmmemory", input: { action: "list" }, max_cost_usd: max },
      });
      expect(ok.status, String(max)).toBe(200);
      expect(ok.json.usage.developer_cost_usd).toBe("0.001500");
    }
    for (const bad of ["-1", "0", "abc", "0.0000001", 1e-7, "1e3", true]) {
      const res = await callRoute(call.POST, "POST", "/", {
        bearer: caller.apiKey,
        body: { agent_id: "warmmemory", input: { action: "list" }, max_cost_usd: bad },
      });
      expect(res.status, String(bad)).toBe(400);
      expect(Object.keys(res.json.error.fields)).toEqual(["max_cost_usd"]);
    }
  });

  it("200 concurrent calls on a key whose spend limit covers 100: exactly 100 paid, spent = limit", async () => {
    const caller = await createKeyedAccount(app, { tier: "paid", label: "spend-limit" });
    const { email } = (await getBillingAccount(app.db, caller.accountId))!;
    const session = (await callRoute(login.POST, "POST", "/", { body: { email, password: strongPassword } })).json.session_token;
    // warmmemory costs the developer $0.0015: 100 calls are $0.15.
    const set = await callRoute(one.PATCH, "PATCH", "/", {
      bearer: session,
      params: { id: caller.key.id },
      body: { spend_limit_usd: "0.15", spend_limit_period: "day" },
    });
    expect(set.status, set.text).toBe(200);
    expect(set.json.key.spend_limit).toMatchObject({ usd: "0.150000", period: "day", spent_usd: "0.000000", remaining_usd: "0.150000" });

    const answers = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        callRoute(call.POST, "POST", "/", {
          bearer: caller.apiKey,
          body: { agent_id: "warmmemory", input: { action: "store", key: `k${i}`, value: "v" } },
        }),
      ),
    );
    const statuses = answers.map((answer) => answer.status);
    expect(statuses.filter((status) => status === 200)).toHaveLength(100);
    expect(statuses.filter((status) => status === 402)).toHaveLength(100);
    expect(answers.filter((answer) => answer.status === 402).every((answer) => answer.json.error.code === "spend_limit_reached")).toBe(
      true,
    );

    const usage = await sql<{ status: string; tx_signature: string }>(
      app.db,
      "select status::text, tx_signature from tdk_usage where api_key_id = $1",
      [caller.key.id],
    );
    expect(usage).toHaveLength(100);
    for (const row of usage) expect(await app.ledger.getSignatureStatus(row.tx_signature)).toBe("confirmed");
    const read = await callRoute(one.GET, "GET", "/", { bearer: session, params: { id: caller.key.id } });
    expect(read.json.key.spend_limit).toMatchObject({ usd: "0.150000", spent_usd: "0.150000", remaining_usd: "0.000000" });
    expect(Date.parse(read.json.key.spend_limit.resets_at)).toBeGreaterThan(Date.now());

    // Raising the limit lets the key call again; clearing it removes the bound.
    expect(
      (
        await callRoute(one.PATCH, "PATCH", "/", {
          bearer: session,
          params: { id: caller.key.id },
          body: { spend_limit_usd: "0.1515", spend_limit_period: "day" },
        })
      ).json.key.spend_limit.remaining_usd,
    ).toBe("0.001500");
    expect(
      (await callRoute(call.POST, "POST", "/", { bearer: caller.apiKey, body: { agent_id: "warmmemory", input: { action: "list" } } }))
        .status,
    ).toBe(200);
    expect(
      (await callRoute(call.POST, "POST", "/", { bearer: caller.apiKey, body: { agent_id: "warmmemory", input: { action: "list" } } }))
        .status,
    ).toBe(402);
    expect(
      (await callRoute(one.PATCH, "PATCH", "/", { bearer: session, params: { id: caller.key.id }, body: { spend_limit_usd: null } })).json
        .key.spend_limit,
    ).toBeNull();
    expect(
      (await callRoute(call.POST, "POST", "/", { bearer: caller.apiKey, body: { agent_id: "warmmemory", input: { action: "list" } } }))
        .status,
    ).toBe(200);
  }, 180_000);
});
