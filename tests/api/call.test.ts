import { beforeAll, describe, expect, it } from "vitest";
import { PublicKey } from "@solana/web3.js";
import * as call from "@/app/api/tdk/v1/call/route";
import * as agents from "@/app/api/tdk/v1/agents/route";
import type { AppContext } from "@/lib/context";
import { callRoute, createKeyedAccount, createTestApp } from "../helpers/app";

let app: AppContext;
beforeAll(async () => {
  app = await createTestApp();
});

const store = (key: string, value: string) => ({ agent_id: "warmmemory", input: { action: "store", key, value } });

describe("POST /api/tdk/v1/call", () => {
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
    expect(res.json.usage.request_id).toBe(res.headers.get("x-request-id"));
    expect(res.headers.get("x-ratelimit-limit")).toBe("100");
    expect(res.headers.get("x-ratelimit-remaining")).toBe("99");
    expect(await app.ledger.getSignatureStatus(res.json.usage.tx_signature)).toBe("confirmed");
    expect(await app.ledger.getUsdcBalance(wallet)).toBe(before - 1_000n);

    const get = await callRoute(call.POST, "POST", "/", { bearer: apiKey, body: { agent_id: "warmmemory", input: { action: "get", key: "user:prefs" } } });
    expect(get.json.output).toEqual({ found: true, key: "user:prefs", value: '{"theme":"dark"}' });
  });
});

describe("GET /api/tdk/v1/agents", () => {
  it("lists the catalog with developer prices after markup, rounded up", async () => {
    const res = await callRoute(agents.GET, "GET", "/api/tdk/v1/agents");
    expect(res.status).toBe(200);
    const byName = Object.fromEntries(res.json.agents.map((agent: { name: string }) => [agent.name, agent]));
    expect(byName.warmmemory).toMatchObject({ agent_cost_usd: "0.001000", developer_price_usd: "0.001500", developer_price_micro: 1500 });
    expect(byName.sentiment.developer_price_usd).toBe("0.007500");
    expect(byName.textstats.input_schema).toMatchObject({ type: "object" });
  });
});
