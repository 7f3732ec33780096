import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PublicKey } from "@solana/web3.js";
import * as call from "@/app/api/tdk/v1/call/route";
import { agentTimeoutMs } from "@/lib/agents/protocol";
import type { AppContext } from "@/lib/context";
import type { CallDeps } from "@/lib/calls/paid-call";
import { verifyApiKey } from "@/lib/keys/keys";
import { startPartProcess, startRpcProcess, type PartProcess, type RpcProcess } from "@/scripts/localnet";
import { callRoute, createKeyedAccount, createTestApp, paidCallAnswer, sql } from "../helpers/app";
import { servicesFor } from "@/lib/services";

/**
 * The gateway's marketplace client over real sockets, against the local marketplace in its own
 * process (scripts/local-marketplace.ts) paying on the local cluster in its own process: what the
 * production path (`TETTO_API_URL`, `SOLANA_RPC_URL`) does, with its timeouts and resets.
 */

const SCALE = 0.01; // agent types' timeouts ×0.01: "60 s" is 0.6 s
let rpc: RpcProcess;
let market: PartProcess;
let app: AppContext;

beforeAll(async () => {
  rpc = await startRpcProcess();
  market = await startPartProcess("local-marketplace.ts", "marketplace", [
    "--rpc",
    rpc.url,
    "--port",
    "0",
    "--calls-per-wallet",
    "0",
    "--time-scale",
    String(SCALE),
    "--test-agents",
  ]);
  app = await createTestApp({
    chain: rpc,
    remoteMarketplace: { url: market.url, protocolWallet: market.details.protocol_wallet!, client: { timeoutMs: 1_000, catalogTtlMs: 0 } },
  });
}, 120_000);
afterAll(async () => {
  await market?.stop();
  await rpc?.stop();
});

const store = (key: string) => ({ agent_id: "warmmemory", input: { action: "store", key, value: "v" } });
const scaled = (deps: CallDeps) => ({
  ...deps,
  callTimeoutMs: (agent: Parameters<typeof agentTimeoutMs>[0]) => agentTimeoutMs(agent) * SCALE + 300,
});

async function ownerBalance(name: string): Promise<bigint> {
  const [agent] = (await app.agents.client.listAgents()).filter((entry) => entry.name === name);
  return app.ledger.getUsdcBalance(new PublicKey(agent!.owner_wallet));
}

describe("the marketplace over HTTP, on the local cluster", () => {
  it("pays and calls an agent over real sockets: the owner gets the price less the protocol's share, once", async () => {
    const { apiKey, key } = await createKeyedAccount(app, { tier: "paid", label: "socket" });
    const wallet = new PublicKey(key.wallet.public_key);
    const [before, ownerBefore] = [await app.ledger.getUsdcBalance(wallet), await ownerBalance("warmmemory")];
    const res = await callRoute(call.POST, "POST", "/", { bearer: apiKey, body: store("over-http") });
    expect(res.status, res.text).toBe(200);
    expect(res.json.output).toEqual({ stored: true, key: "over-http" });
    expect(before - (await app.ledger.getUsdcBalance(wallet))).toBe(1_000n);
    expect((await ownerBalance("warmmemory")) - ownerBefore).toBe(900n);
  });

  it("a marketplace that hangs: the catalog read times out, nothing is reserved or paid", async () => {
    const { apiKey, key } = await createKeyedAccount(app, { tier: "paid", label: "hang" });
    const wallet = new PublicKey(key.wallet.public_key);
    const before = await app.ledger.getUsdcBalance(wallet);
    market.pause(true);
    try {
      const res = await callRoute(call.POST, "POST", "/", { bearer: apiKey, body: store("hang") });
      expect(res.status).toBe(502);
      expect(res.json.error).toMatchObject({ code: "marketplace_error", paid: false });
      expect(res.json.error.message).toMatch(/unreachable|abort|timeout/i);
    } finally {
      market.pause(false);
    }
    expect(await app.ledger.getUsdcBalance(wallet)).toBe(before);
    expect(await sql(app.db, "select 1 from tdk_usage where api_key_id = $1", [key.id])).toHaveLength(0);
  });

  it("a connection reset after payment: resolved from the chain as paid and not billed; a retry pays nothing again", async () => {
    const { apiKey, key } = await createKeyedAccount(app, { tier: "paid", label: "reset" });
    const wallet = new PublicKey(key.wallet.public_key);
    const before = await app.ledger.getUsdcBalance(wallet);
    await fetch(`${market.url}/localnet/reset-next-calls`, { method: "POST", body: JSON.stringify({ count: 1 }) });
    const headers = { "idempotency-key": "reset-1" };
    const res = await callRoute(call.POST, "POST", "/", { bearer: apiKey, body: store("reset"), headers });
    expect(res.status).toBe(502);
    expect(res.json.error).toMatchObject({ code: "agent_failed", paid: true });
    expect(before - (await app.ledger.getUsdcBalance(wallet))).toBe(1_000n);
    const [row] = await sql<{ status: string; billing_status: string }>(
      app.db,
      "select status, billing_status from tdk_usage where api_key_id = $1",
      [key.id],
    );
    expect(row).toEqual({ status: "agent_failed", billing_status: "not_billable" });

    const retry = await callRoute(call.POST, "POST", "/", { bearer: apiKey, body: store("reset"), headers });
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(before - (await app.ledger.getUsdcBalance(wallet))).toBe(1_000n);
  });

  it("a slow agent: a complex agent taking longer than a simple one may is waited for by its type, billed once", async () => {
    const { apiKey, key } = await createKeyedAccount(app, { tier: "paid", label: "slow" });
    const wallet = new PublicKey(key.wallet.public_key);
    const verified = await verifyApiKey(app.db, apiKey);
    if (!verified.ok) throw new Error(verified.code);
    const before = await app.ledger.getUsdcBalance(wallet);
    const body = { agent_id: "slowpoke", input: { text: "slow and steady" } };
    const answer = await paidCallAnswer(scaled(servicesFor(app).calls.deps), verified.key, {
      requestId: "req_slowpoke",
      body,
      idempotencyKey: null,
    });
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ output: { words: 3 } });
    expect(before - (await app.ledger.getUsdcBalance(wallet))).toBe(2_000n);

    // Waited for as a simple agent (20 s, scaled), the same call is paid and its answer lost.
    const simple = { ...scaled(servicesFor(app).calls.deps), callTimeoutMs: () => 20_000 * SCALE };
    const lost = await paidCallAnswer(simple, verified.key, { requestId: "req_slowpoke_simple", body, idempotencyKey: null });
    expect(lost.body).toMatchObject({ error: { code: "agent_failed", paid: true } });
  });
});
