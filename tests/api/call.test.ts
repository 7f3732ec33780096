import { beforeAll, describe, expect, it } from "vitest";
import { PublicKey } from "@solana/web3.js";
import { z } from "zod";
import * as call from "@/app/api/tdk/v1/call/route";
import * as agents from "@/app/api/tdk/v1/agents/route";
import * as keyUsage from "@/app/api/tdk/v1/usage/route";
import { demoAgents, type LocalAgentDefinition } from "@/lib/agents/demo-agents";
import type { AppContext } from "@/lib/context";
import { setAppContext } from "@/lib/context";
import { callRoute, createKeyedAccount, createTestApp, requestCutShort, sql } from "../helpers/app";

const failingAgent: LocalAgentDefinition = {
  id: "0d9a4c1e-7f2b-4e6a-8c3d-1b5e9f7a2c44",
  name: "failing",
  description: "Always fails after being paid.",
  priceMicro: 3_000n,
  feeBps: 0,
  inputSchema: z.object({}).passthrough(),
  outputSchema: z.unknown(),
  async handle() {
    throw new Error("model overloaded");
  },
};

let app: AppContext;
beforeAll(async () => {
  app = await createTestApp({ agents: [...demoAgents(), failingAgent] });
});

const store = (key: string, value: string) => ({ agent_id: "warmmemory", input: { action: "store", key, value } });
const get = (key: string) => ({ agent_id: "warmmemory", input: { action: "get", key } });

async function usageRows(keyId: string) {
  const rows = await sql<any>(
    app.db,
    "select status, agent_cost_micro::int as cost, developer_cost_micro::int as dev, tx_signature, billing_status from tdk_usage where api_key_id = $1 order by created_at",
    [keyId],
  );
  return rows as { status: string; cost: number; dev: number; tx_signature: string | null; billing_status: string }[];
}

describe("POST /api/tdk/v1/call: a paid call", () => {
  it("pays the agent from the key's wallet and answers its output with the cost", async () => {
    const { apiKey, key } = await createKeyedAccount(app);
    const wallet = new PublicKey(key.wallet.public_key);
    const before = await app.ledger.getUsdcBalance(wallet);

    const res = await callRoute(call.POST, "POST", "/api/tdk/v1/call", { bearer: apiKey, body: store("user:prefs", '{"theme":"dark"}') });
    expect(res.status, res.text).toBe(200);
    expect(res.json).toMatchObject({
      success: true,
      output: { stored: true, key: "user:prefs" },
      usage: { agent_name: "warmmemory", agent_cost_usd: "0.001000", developer_cost_usd: "0.001500", markup_pct: 50, tier: "free" },
    });
    expect(res.json.usage.receipt_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.json.usage.request_id).toBe(res.headers.get("x-request-id"));
    expect(res.headers.get("x-ratelimit-limit")).toBe("100");
    expect(res.headers.get("x-ratelimit-remaining")).toBe("99");
    expect(Number(res.headers.get("x-ratelimit-reset"))).toBeGreaterThan(Date.now() / 1000);
    expect(await app.ledger.getSignatureStatus(res.json.usage.tx_signature)).toBe("confirmed");
    expect(await app.ledger.getUsdcBalance(wallet)).toBe(before - 1_000n);
    expect(await usageRows(key.id)).toEqual([
      { status: "succeeded", cost: 1000, dev: 1500, tx_signature: res.json.usage.tx_signature, billing_status: "unreported" },
    ]);

    const read = await callRoute(call.POST, "POST", "/", { bearer: apiKey, body: get("user:prefs") });
    expect(read.json.output).toEqual({ found: true, key: "user:prefs", value: '{"theme":"dark"}' });
  });

  it("accepts the agent's UUID as well as its name, case-insensitively", async () => {
    const { apiKey } = await createKeyedAccount(app);
    const byId = await callRoute(call.POST, "POST", "/", {
      bearer: apiKey,
      body: { agent_id: "3b8e1f27-6c4a-4d09-b5e2-7a1c9d3f5e22", input: { text: "One two. Three!" } },
    });
    expect(byId.status).toBe(200);
    expect(byId.json.output).toMatchObject({ words: 3, sentences: 2 });
    expect(
      (await callRoute(call.POST, "POST", "/", { bearer: apiKey, body: { agent_id: "SENTIMENT", input: { text: "great and fast" } } })).json
        .output,
    ).toEqual({
      label: "positive",
      score: 1,
    });
  });

  it("keeps two keys' memories apart, even under the same memory key", async () => {
    const a = await createKeyedAccount(app, { label: "tenant-a" });
    const b = await createKeyedAccount(app, { label: "tenant-b" });
    expect((await callRoute(call.POST, "POST", "/", { bearer: a.apiKey, body: store("shared", "alpha") })).status).toBe(200);
    expect((await callRoute(call.POST, "POST", "/", { bearer: b.apiKey, body: store("shared", "beta") })).status).toBe(200);
    expect((await callRoute(call.POST, "POST", "/", { bearer: a.apiKey, body: get("shared") })).json.output.value).toBe("alpha");
    expect((await callRoute(call.POST, "POST", "/", { bearer: b.apiKey, body: get("shared") })).json.output.value).toBe("beta");
    const list = await callRoute(call.POST, "POST", "/", { bearer: b.apiKey, body: { agent_id: "warmmemory", input: { action: "list" } } });
    expect(list.json.output).toEqual({ keys: ["shared"] });

    // Nor each other's usage.
    const usageA = await callRoute(keyUsage.GET, "GET", "/api/tdk/v1/usage", { bearer: a.apiKey });
    expect(usageA.json.usage.every((row: { key_id: string }) => row.key_id === a.key.id)).toBe(true);
    expect(usageA.json.summary.calls).toBe(2);
    const foreign = await callRoute(keyUsage.GET, "GET", `/api/tdk/v1/usage?key_id=${b.key.id}`, { bearer: a.apiKey });
    expect(foreign.status).toBe(404);
  });
});

describe("POST /api/tdk/v1/call: refusals, each with its code and nothing paid", () => {
  let caller: Awaited<ReturnType<typeof createKeyedAccount>>;
  beforeAll(async () => {
    caller = await createKeyedAccount(app, { label: "refusals" });
  });

  async function walletUsdc() {
    return app.ledger.getUsdcBalance(new PublicKey(caller.key.wallet.public_key));
  }

  it("401 without a key, with an unknown key, with a revoked key; rate-limit headers even then", async () => {
    const none = await callRoute(call.POST, "POST", "/", { body: store("k", "v") });
    expect(none.status).toBe(401);
    expect(none.json.error.code).toBe("unauthorized");
    expect(none.headers.get("x-ratelimit-limit")).toBeTruthy();
    expect(none.headers.get("x-request-id")).toBe(none.json.error.request_id);
    const unknown = await callRoute(call.POST, "POST", "/", { bearer: `tk_test_${"1".repeat(44)}`, body: store("k", "v") });
    expect(unknown.json.error.code).toBe("invalid_api_key");
    const revoked = await createKeyedAccount(app);
    await sql(app.db, "select tdk_revoke_api_key($1, $2)", [revoked.accountId, revoked.key.id]);
    const answer = await callRoute(call.POST, "POST", "/", { bearer: revoked.apiKey, body: store("k", "v") });
    expect(answer.status).toBe(401);
    expect(answer.json.error.code).toBe("key_revoked");
  });

  it("403 for a suspended key", async () => {
    const suspended = await createKeyedAccount(app);
    await sql(app.db, "update tdk_api_keys set status = 'suspended', suspended_reason = 'payment_failed' where id = $1", [
      suspended.key.id,
    ]);
    const res = await callRoute(call.POST, "POST", "/", { bearer: suspended.apiKey, body: store("k", "v") });
    expect(res.status).toBe(403);
    expect(res.json.error).toMatchObject({ code: "key_suspended", reason: "payment_failed" });
  });

  it("400 for a body cut short by a client that went away: nothing reserved, no internal error", async () => {
    // What Node's HTTP server does to a request whose client closes the connection mid-body: the
    // body stream errors with "aborted" (the bench's production shape saw it as 500s at the end of
    // each load round, logged as unexpected errors).
    const usageRows = async () =>
      (await sql<{ count: string }>(app.db, "select count(*)::text as count from tdk_usage where api_key_id = $1", [caller.key.id]))[0]!
        .count;
    const before = await walletUsdc();
    const rowsBefore = await usageRows();
    const request = requestCutShort("/api/tdk/v1/call", '{"agent_id":"warmmemory","inp', { authorization: `Bearer ${caller.apiKey}` });
    const response = await call.POST(request, { params: Promise.resolve({}) });
    expect(response.status).toBe(400);
    const body = await response.json();
    expect(body.error).toMatchObject({ code: "invalid_json", message: expect.stringMatching(/did not arrive whole/) });
    expect(body.error.request_id).toBe(response.headers.get("x-request-id"));
    expect(await walletUsdc()).toBe(before);
    expect(await usageRows()).toBe(rowsBefore);
  });

  it("400 for a bad body or Idempotency-Key, 404 for an unknown agent, 400 for input the agent refuses", async () => {
    const before = await walletUsdc();
    const cases: [unknown, string][] = [
      [{ input: {} }, "agent_id"],
      [{ agent_id: "warmmemory" }, "input"],
      [{ agent_id: "warmmemory", input: "text" }, "input"],
      [{ agent_id: "warmmemory", input: {}, extra: 1 }, "_"],
    ];
    for (const [body, field] of cases) {
      const res = await callRoute(call.POST, "POST", "/", { bearer: caller.apiKey, body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(Object.keys(res.json.error.fields)).toContain(field);
    }
    expect(
      (await callRoute(call.POST, "POST", "/", { bearer: caller.apiKey, rawBody: "{", headers: { "content-type": "application/json" } }))
        .json.error.code,
    ).toBe("invalid_json");
    const badIdem = await callRoute(call.POST, "POST", "/", {
      bearer: caller.apiKey,
      body: store("k", "v"),
      headers: { "idempotency-key": "x".repeat(300) },
    });
    expect(badIdem.status).toBe(400);

    const unknown = await callRoute(call.POST, "POST", "/", { bearer: caller.apiKey, body: { agent_id: "no-such-agent", input: {} } });
    expect(unknown.status).toBe(404);
    expect(unknown.json.error.code).toBe("unknown_agent");

    const refused = await callRoute(call.POST, "POST", "/", {
      bearer: caller.apiKey,
      body: { agent_id: "warmmemory", input: { action: "explode" } },
    });
    expect(refused.status).toBe(400);
    expect(refused.json.error).toMatchObject({ code: "invalid_agent_input", paid: false });
    expect(refused.json.error.message).toMatch(/Input validation failed/);

    expect(await walletUsdc()).toBe(before);
    expect((await usageRows(caller.key.id)).map((row) => row.status)).toEqual(["failed"]);
  });

  it("502 agent_failed when the agent fails after payment: paid, recorded, visible, not billed", async () => {
    const before = await walletUsdc();
    const res = await callRoute(call.POST, "POST", "/", { bearer: caller.apiKey, body: { agent_id: "failing", input: {} } });
    expect(res.status).toBe(502);
    expect(res.json.error).toMatchObject({ code: "agent_failed", paid: true });
    expect(res.json.error.message).toMatch(/model overloaded/);
    expect(await app.ledger.getSignatureStatus(res.json.error.tx_signature)).toBe("confirmed");
    expect(await walletUsdc()).toBe(before - 3_000n);

    const history = await callRoute(keyUsage.GET, "GET", "/api/tdk/v1/usage", { bearer: caller.apiKey });
    const row = history.json.usage.find((entry: { tx_signature: string }) => entry.tx_signature === res.json.error.tx_signature);
    expect(row).toMatchObject({ status: "agent_failed", billed_usd: "0.000000", agent_cost_usd: "0.003000" });
    expect(history.json.summary).toMatchObject({ agent_failed: 1 });
    const stored = (await usageRows(caller.key.id)).find((entry) => entry.tx_signature === res.json.error.tx_signature);
    expect(stored?.billing_status).toBe("not_billable");
  });

  it("402 quota_exceeded once the free tier's monthly calls are used up, with limit and used", async () => {
    const quotaApp = await createTestApp({ env: { FREE_MONTHLY_QUOTA: "2" } });
    try {
      const { apiKey } = await createKeyedAccount(quotaApp);
      for (let i = 0; i < 2; i += 1)
        expect((await callRoute(call.POST, "POST", "/", { bearer: apiKey, body: store(`k${i}`, "v") })).status).toBe(200);
      const res = await callRoute(call.POST, "POST", "/", { bearer: apiKey, body: store("k3", "v") });
      expect(res.status).toBe(402);
      expect(res.json.error).toMatchObject({ code: "quota_exceeded", limit: 2, used: 2 });
      // A paid account has no monthly quota.
      const paid = await createKeyedAccount(quotaApp, { tier: "paid" });
      for (let i = 0; i < 3; i += 1)
        expect((await callRoute(call.POST, "POST", "/", { bearer: paid.apiKey, body: store(`k${i}`, "v") })).status).toBe(200);
    } finally {
      setAppContext(app);
    }
  });

  it("402 insufficient_balance when the wallet is short and the top-up is capped; a failed call does not use quota", async () => {
    // The key's daily cap is exactly its first funding: no top-up fits under it.
    const poorApp = await createTestApp({ env: { WALLET_INITIAL_USDC_MICRO: "1500", FUNDING_CAP_FREE_KEY_DAILY_USDC_MICRO: "1500" } });
    try {
      const { apiKey, key } = await createKeyedAccount(poorApp);
      expect((await callRoute(call.POST, "POST", "/", { bearer: apiKey, body: store("a", "1") })).status).toBe(200);
      const res = await callRoute(call.POST, "POST", "/", { bearer: apiKey, body: store("b", "2") });
      expect(res.status).toBe(402);
      expect(res.json.error).toMatchObject({
        code: "insufficient_balance",
        available_usd: "0.000500",
        required_usd: "0.001000",
        topup: "key_cap_reached",
      });
      const account = (
        await sql<any>(poorApp.db, "select ops_this_month from tdk_accounts a join tdk_api_keys k on k.account_id = a.id where k.id = $1", [
          key.id,
        ])
      )[0];
      expect(account.ops_this_month).toBe(1);
    } finally {
      setAppContext(app);
    }
  });

  it("tops the wallet up from the treasury on the call path when it runs low, within the caps", async () => {
    const lowApp = await createTestApp({ env: { WALLET_INITIAL_USDC_MICRO: "1000", TOPUP_TARGET_USDC_MICRO: "5000" } });
    try {
      const { apiKey, key } = await createKeyedAccount(lowApp);
      const wallet = new PublicKey(key.wallet.public_key);
      expect((await callRoute(call.POST, "POST", "/", { bearer: apiKey, body: store("a", "1") })).status).toBe(200);
      expect(await lowApp.ledger.getUsdcBalance(wallet)).toBe(0n);
      expect((await callRoute(call.POST, "POST", "/", { bearer: apiKey, body: store("b", "2") })).status).toBe(200);
      expect(await lowApp.ledger.getUsdcBalance(wallet)).toBe(4_000n);
      const fundings = await sql<any>(
        lowApp.db,
        "select reason, status, usdc_micro::int as usdc from tdk_wallet_fundings where api_key_id = $1 order by created_at",
        [key.id],
      );
      expect(fundings).toEqual([
        { reason: "initial", status: "confirmed", usdc: 1000 },
        { reason: "topup", status: "confirmed", usdc: 5000 },
      ]);
    } finally {
      setAppContext(app);
    }
  });

  it("429 with Retry-After past the tier's limit", async () => {
    const limited = await createKeyedAccount(app);
    // Spend the free tier's 100 requests with cheap invalid bodies (rate limited all the same).
    for (let i = 0; i < 100; i += 1) await callRoute(call.POST, "POST", "/", { bearer: limited.apiKey, body: {} });
    const res = await callRoute(call.POST, "POST", "/", { bearer: limited.apiKey, body: store("k", "v") });
    expect(res.status).toBe(429);
    expect(res.json.error.code).toBe("rate_limited");
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(res.headers.get("x-ratelimit-remaining")).toBe("0");
  });
});

describe("GET /api/tdk/v1/agents", () => {
  it("lists the catalog with developer prices after markup, rounded up", async () => {
    const res = await callRoute(agents.GET, "GET", "/api/tdk/v1/agents");
    expect(res.status).toBe(200);
    expect(res.headers.get("x-request-id")).toMatch(/^req_/);
    expect(res.headers.get("x-ratelimit-limit")).toBe("300");
    const byName = Object.fromEntries(res.json.agents.map((agent: { name: string }) => [agent.name, agent]));
    expect(byName.warmmemory).toMatchObject({ agent_cost_usd: "0.001000", developer_price_usd: "0.001500", developer_price_micro: 1500 });
    expect(byName.sentiment.developer_price_usd).toBe("0.007500");
    expect(byName.textstats.input_schema).toMatchObject({ type: "object" });
  });
});
