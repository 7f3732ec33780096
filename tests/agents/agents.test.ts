import { describe, expect, it } from "vitest";
import { signAgentRequest, verifyAgentRequest } from "@/lib/agents/agent-signature";
import { createMemoryAgent } from "@/lib/agents/demo-agents";
import { serveAgent } from "@/lib/agents/local-marketplace";
import { MarketplaceClient, MarketplaceError } from "@/lib/agents/marketplace-client";
import { developerCostMicro } from "@/lib/agents/pricing";
import { microToUsd } from "@/lib/money/units";

describe("pricing", () => {
  it("adds the markup in integer micro-USD, rounded up, never below cost", () => {
    expect(developerCostMicro(1_000n, 5_000)).toBe(1_500n);
    expect(developerCostMicro(1n, 5_000)).toBe(2n);
    expect(developerCostMicro(3n, 3_333)).toBe(4n);
    expect(developerCostMicro(0n, 5_000)).toBe(0n);
    expect(developerCostMicro(40_000n, 0)).toBe(40_000n);
    for (let cost = 0n; cost < 2_000n; cost += 7n) {
      for (const bps of [0, 1, 99, 1_250, 5_000, 10_000]) {
        const price = developerCostMicro(cost, bps);
        expect(price >= cost).toBe(true);
        // Rounded up by less than one micro-dollar.
        expect(price * 10_000n - cost * BigInt(10_000 + bps)).toBeGreaterThanOrEqual(0n);
        expect(price * 10_000n - cost * BigInt(10_000 + bps)).toBeLessThan(10_000n);
      }
    }
    expect(() => developerCostMicro(-1n, 0)).toThrow(RangeError);
    expect(microToUsd(1_500n)).toBe("0.001500");
    expect(microToUsd(12_345_678)).toBe("12.345678");
  });
});

describe("X-Tetto-Signature", () => {
  const secret = "agent-secret";
  const body = JSON.stringify({ input: { a: 1 } });

  it("verifies a fresh signature of this exact body only", () => {
    const header = signAgentRequest(secret, body);
    expect(verifyAgentRequest(secret, body, header)).toBe(true);
    expect(verifyAgentRequest(secret, `${body} `, header)).toBe(false);
    expect(verifyAgentRequest("other-secret", body, header)).toBe(false);
    expect(verifyAgentRequest(secret, body, null)).toBe(false);
    expect(verifyAgentRequest(secret, body, "t=1,v1=zz")).toBe(false);
    const old = signAgentRequest(secret, body, Math.floor(Date.now() / 1000) - 600);
    expect(verifyAgentRequest(secret, body, old)).toBe(false);
  });

  it("an agent refuses an unsigned or forged request and runs nothing", async () => {
    const store = new Map<string, Map<string, string>>();
    const agent = createMemoryAgent(store);
    const raw = JSON.stringify({
      input: { action: "store", key: "k", value: "v" },
      tetto_context: { caller_wallet: "W", caller_agent_id: null, intent_id: "i", timestamp: 0, version: "1" },
    });
    const forged = await serveAgent(agent, secret, raw, signAgentRequest("wrong", raw));
    expect(forged).toEqual({ status: 401, body: JSON.stringify({ error: "invalid signature" }) });
    const unsigned = await serveAgent(agent, secret, raw, null);
    expect(unsigned.status).toBe(401);
    // Signed for another body: the signature covers the bytes, not only the secret.
    const other = await serveAgent(agent, secret, raw, signAgentRequest(secret, raw.replace('"v"', '"w"')));
    expect(other.status).toBe(401);
    expect(store.size).toBe(0);
    const signed = await serveAgent(agent, secret, raw, signAgentRequest(secret, raw));
    expect(signed).toEqual({ status: 200, body: JSON.stringify({ output: { stored: true, key: "k" } }) });
    expect(store.get("W")?.get("k")).toBe("v");
  });
});

describe("marketplace client", () => {
  const agent = {
    id: "a1",
    name: "Echo",
    price_base: 1000,
    token: "USDC",
    token_mint: "mint",
    token_decimals: 6,
    owner_wallet: "11111111111111111111111111111111",
    fee_bps: 0,
    status: "active",
  };

  it("caches the catalog for its TTL and finds agents by id or name", async () => {
    let fetched = 0;
    let now = 0;
    const client = new MarketplaceClient(
      "https://market.example",
      async (url) => {
        fetched += 1;
        expect(url).toBe("https://market.example/api/agents");
        return Response.json({ ok: true, agents: [agent] });
      },
      { catalogTtlMs: 1_000, now: () => now },
    );
    expect(await client.findAgent("echo")).toMatchObject({ ok: true, agent: { id: "a1" } });
    expect(await client.findAgent("A1")).toMatchObject({ ok: true, agent: { name: "Echo" } });
    expect(await client.findAgent("missing")).toEqual({ ok: false, code: "unknown_agent" });
    expect(fetched).toBe(1);
    now = 1_500;
    await client.listAgents();
    expect(fetched).toBe(2);
  });

  it("treats an answer that breaks the protocol, or no answer, as an error", async () => {
    const malformed = new MarketplaceClient("https://m", async () => Response.json({ ok: true, agents: { id: 1 } }));
    await expect(malformed.listAgents()).rejects.toBeInstanceOf(MarketplaceError);
    const down = new MarketplaceClient("https://m", async () => {
      throw new TypeError("fetch failed");
    });
    await expect(down.listAgents()).rejects.toThrow(/unreachable/);
    const refused = new MarketplaceClient("https://m", async () =>
      Response.json({ ok: false, error: "Input validation failed" }, { status: 400 }),
    );
    expect(await refused.buildTransaction("a1", "payer", {})).toEqual({ ok: false, error: "Input validation failed", httpStatus: 400 });
  });

  it("times a request out at its timeout, and ends its timer with the answer (nothing outlives a request under load)", async () => {
    const signals: AbortSignal[] = [];
    const answering = new MarketplaceClient(
      "https://m",
      async (_url, init) => {
        signals.push(init!.signal!);
        return Response.json({ ok: true, agents: [agent] });
      },
      { timeoutMs: 50, catalogTtlMs: 0 },
    );
    await answering.listAgents();
    await new Promise((resolve) => setTimeout(resolve, 150));
    // Past its timeout, the answered request's signal was never aborted: its timer ended with it.
    expect(signals).toHaveLength(1);
    expect(signals[0]!.aborted).toBe(false);

    const silent = new MarketplaceClient(
      "https://m",
      (_url, init) =>
        new Promise<Response>((_resolve, reject) => init!.signal!.addEventListener("abort", () => reject(init!.signal!.reason))),
      { timeoutMs: 50 },
    );
    const started = Date.now();
    await expect(silent.listAgents()).rejects.toThrow(/unreachable: no answer within 50 ms/);
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
