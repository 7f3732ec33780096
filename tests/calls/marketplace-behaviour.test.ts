import { beforeAll, describe, expect, it } from "vitest";
import { Keypair, PublicKey, Transaction } from "@solana/web3.js";
import * as call from "@/app/api/tdk/v1/call/route";
import * as agentsRoute from "@/app/api/tdk/v1/agents/route";
import * as readCall from "@/app/api/tdk/v1/calls/[request_id]/route";
import {
  createEchoAgent,
  createMemoryAgent,
  createSolPricedAgent,
  createTextStatsAgent,
  demoAgents,
  type LocalAgentDefinition,
} from "@/lib/agents/demo-agents";
import { LocalMarketplace } from "@/lib/agents/local-marketplace";
import { MarketplaceClient } from "@/lib/agents/marketplace-client";
import type { Ledger } from "@/lib/solana/ledger";
import type { LocalLedger } from "@/lib/solana/local-ledger";
import { AGENT_TYPE_TIMEOUT_MS, agentTimeoutMs } from "@/lib/agents/protocol";
import type { PipelineStep } from "@/lib/calls/paid-call";
import { recoverPendingCalls } from "@/lib/calls/recovery";
import type { AppContext } from "@/lib/context";
import { setAppContext } from "@/lib/context";
import { ed25519Sign } from "@/lib/crypto/ed25519";
import { verifyApiKey } from "@/lib/keys/keys";
import { logLines } from "../helpers/logs";
import { callRoute, createKeyedAccount, createTestApp, expireBlockhashes, paidCallAnswer, sql } from "../helpers/app";
import { alteredMarketplace } from "../helpers/marketplace";
import { servicesFor } from "@/lib/services";

/**
 * The gateway against a marketplace that behaves like the real one (tetto-sdk v2 and its history):
 * payments built without a memo, agents that run as long as their type allows, a per-wallet limit,
 * a catalog with SOL-priced agents and null fields, and answers that may come late or not at all.
 */

let app: AppContext;
beforeAll(async () => {
  app = await createTestApp();
});

const store = (key: string, value = "v") => ({ agent_id: "warmmemory", input: { action: "store", key, value } });

async function keyOf(apiKey: string) {
  const verified = await verifyApiKey(app.db, apiKey);
  if (!verified.ok) throw new Error(verified.code);
  return verified.key;
}

/** `calls` paid echo calls through `local`, one wallet: the client and each call's receipt id, in order. */
async function echoCalls(local: LocalMarketplace, calls: number): Promise<{ client: MarketplaceClient; receipts: string[] }> {
  const client = new MarketplaceClient(local.apiUrl, local.fetch);
  const wallet = Keypair.generate();
  await (app.ledger as LocalLedger).fund(wallet.publicKey, 10_000_000n, 100_000_000n);
  const receipts: string[] = [];
  for (let i = 0; i < calls; i += 1) {
    const build = await client.buildTransaction(createEchoAgent().id, wallet.publicKey.toBase58(), { n: i });
    if (!build.ok) throw new Error(build.error);
    const tx = Transaction.from(Buffer.from(build.transaction, "base64"));
    tx.sign(wallet);
    const answer = await client.callAgent(build.payment_intent_id, tx.serialize().toString("base64"), 10_000);
    if (!answer.ok || !answer.receipt_id) throw new Error("the call did not succeed");
    receipts.push(answer.receipt_id);
  }
  return { client, receipts };
}

/**
 * A marketplace of its own (memos on), a funded payer and one echo intent built for it; `sendCall`
 * posts a signed transaction (base64) for that intent to the marketplace's call endpoint.
 */
async function echoIntent() {
  const local = await LocalMarketplace.create(app.ledger as LocalLedger, demoAgents(), { memo: true });
  const client = new MarketplaceClient(local.apiUrl, local.fetch);
  const wallet = Keypair.generate();
  await (app.ledger as LocalLedger).fund(wallet.publicKey, 10_000_000n, 100_000_000n);
  const build = await client.buildTransaction(createEchoAgent().id, wallet.publicKey.toBase58(), { n: 1 });
  if (!build.ok) throw new Error(build.error);
  const sendCall = (signedTransaction: string) =>
    local.fetch(`${local.apiUrl}/api/agents/call`, {
      method: "POST",
      body: JSON.stringify({ payment_intent_id: build.payment_intent_id, signed_transaction: signedTransaction }),
    });
  return { local, client, wallet, build, sendCall };
}

describe("the demo marketplace's memory", () => {
  it("keeps the latest receipts only (maxReceipts): older ones answer 404, the latest are read back", async () => {
    const local = await LocalMarketplace.create(app.ledger as LocalLedger, demoAgents(), { maxReceipts: 2, memo: true });
    const { client, receipts } = await echoCalls(local, 4);
    expect(local.submittedPayments).toBe(4);
    // A receipt is dropped when the next build finds more than two: after four calls, the first is gone.
    await expect(client.getReceipt(receipts[0]!)).rejects.toMatchObject({ status: 404 });
    for (const id of receipts.slice(2)) expect(await client.getReceipt(id)).toMatchObject({ id });
  });

  it("keeps receipts within a byte budget too (maxReceiptBytes): past it, the oldest go first", async () => {
    // A budget smaller than one receipt: each build drops every receipt before it, and the last call's stays.
    const local = await LocalMarketplace.create(app.ledger as LocalLedger, demoAgents(), { maxReceiptBytes: 1, memo: true });
    const { client, receipts } = await echoCalls(local, 3);
    for (const id of receipts.slice(0, 2)) await expect(client.getReceipt(id)).rejects.toMatchObject({ status: 404 });
    expect(await client.getReceipt(receipts[2]!)).toMatchObject({ id: receipts[2], output_data: { echo: { n: 2 } } });
  });

  it("refuses a used payment intent (409) for as long as the intent lives, after dropping its message; nothing is paid twice", async () => {
    const { local, client, wallet, build, sendCall } = await echoIntent();
    const tx = Transaction.from(Buffer.from(build.transaction, "base64"));
    tx.sign(wallet);
    const signed = tx.serialize().toString("base64");
    const before = await app.ledger.getUsdcBalance(wallet.publicKey);
    expect(await client.callAgent(build.payment_intent_id, signed, 10_000)).toMatchObject({ ok: true });
    // The same signed bytes again, and then bytes that do not match the intent: both refused as a used intent.
    for (const replay of [signed, Buffer.from("not a transaction").toString("base64")]) {
      const answer = await sendCall(replay);
      expect(answer.status).toBe(409);
      expect(await answer.json()).toEqual({ ok: false, error: "Payment intent already used" });
    }
    expect(local.submittedPayments).toBe(1);
    expect(before - (await app.ledger.getUsdcBalance(wallet.publicKey))).toBe(createEchoAgent().priceMicro);
  });

  it("refuses the intent's payment signed by anyone but the payer (400) without using the intent; the payer's signature then pays once", async () => {
    const { local, wallet, build, sendCall } = await echoIntent();
    const before = await app.ledger.getUsdcBalance(wallet.publicKey);
    const send = (signed: Transaction) =>
      sendCall(signed.serialize({ requireAllSignatures: false, verifySignatures: false }).toString("base64"));
    // The intent's message, byte for byte, in the payer's signature slot: a stranger's signature of it, then a payer's signature with one bit flipped.
    const forged = Transaction.from(Buffer.from(build.transaction, "base64"));
    forged.addSignature(wallet.publicKey, ed25519Sign(Keypair.generate().secretKey, forged.serializeMessage()));
    const flipped = ed25519Sign(wallet.secretKey, forged.serializeMessage());
    flipped[0]! ^= 1;
    const tampered = Transaction.from(Buffer.from(build.transaction, "base64"));
    tampered.addSignature(wallet.publicKey, flipped);
    for (const signed of [forged, tampered]) {
      const answer = await send(signed);
      expect(answer.status).toBe(400);
      expect(await answer.json()).toEqual({ ok: false, error: "Signed transaction does not match the payment intent" });
    }
    expect(local.submittedPayments).toBe(0);
    expect(await app.ledger.getUsdcBalance(wallet.publicKey)).toBe(before);

    const paid = Transaction.from(Buffer.from(build.transaction, "base64"));
    paid.sign(wallet);
    const answer = await send(paid);
    expect(answer.status).toBe(200);
    expect(await answer.json()).toMatchObject({ ok: true, tx_signature: expect.any(String) });
    expect(local.submittedPayments).toBe(1);
    expect(before - (await app.ledger.getUsdcBalance(wallet.publicKey))).toBe(createEchoAgent().priceMicro);
  });
});

describe("payments built without a memo (as the real builder builds them)", () => {
  it("two identical concurrent calls of one key both succeed, each paid exactly once", async () => {
    const { apiKey, key } = await createKeyedAccount(app, { label: "twins" });
    const wallet = new PublicKey(key.wallet.public_key);
    const before = await app.ledger.getUsdcBalance(wallet);
    const submittedBefore = app.agents.local!.submittedPayments;
    // Same key, same agent, same input, same moment: the marketplace builds byte-identical transactions.
    // Both are sent as a slot begins, so both builds read the same blockhash even on a loaded machine
    // (a slot is 400 ms; two builds straddling its end would differ, and nothing would be rebuilt).
    const { blockhash } = await app.ledger.latestBlockhash();
    while ((await app.ledger.latestBlockhash()).blockhash === blockhash) await new Promise((resolve) => setTimeout(resolve, 2));
    const [first, second] = await Promise.all([0, 1].map(() => callRoute(call.POST, "POST", "/", { bearer: apiKey, body: store("same") })));
    expect([first!.status, second!.status]).toEqual([200, 200]);
    expect(first!.json.usage.tx_signature).not.toBe(second!.json.usage.tx_signature);
    // One of the two was rebuilt on the next blockhash, and the operator log says which.
    const requestIds = [first!, second!].map((answer) => answer.headers.get("x-request-id"));
    const rebuilt = logLines().filter((entry) => String(entry.msg).includes("payment identical to one in flight (attempt 1)"));
    expect(rebuilt.filter((entry) => requestIds.some((id) => String(entry.msg).includes(`request_id=${id} `)))).toHaveLength(1);
    expect(before - (await app.ledger.getUsdcBalance(wallet))).toBe(2_000n);
    expect(app.agents.local!.submittedPayments - submittedBefore).toBe(2);
    const rows = await sql<{ status: string }>(app.db, "select status from tdk_usage where api_key_id = $1", [key.id]);
    expect(rows.map((row) => row.status)).toEqual(["succeeded", "succeeded"]);
  });
});

describe("payments as tetto's Python SDK built them (TransferChecked)", () => {
  it("are signed and paid like Transfer payments", async () => {
    const checked = await createTestApp({ marketplace: { transferInstruction: "TransferChecked" } });
    try {
      const { apiKey, key } = await createKeyedAccount(checked, { label: "checked" });
      const wallet = new PublicKey(key.wallet.public_key);
      const before = await checked.ledger.getUsdcBalance(wallet);
      expect((await callRoute(call.POST, "POST", "/", { bearer: apiKey, body: store("checked") })).status).toBe(200);
      expect(before - (await checked.ledger.getUsdcBalance(wallet))).toBe(1_000n);
    } finally {
      setAppContext(app);
    }
  });
});

describe("long-running agents", () => {
  // Agent-type timeouts scaled down 200×: a "180 s" coordinator gets 0.9 s, the old fixed 30 s client limit would be 0.15 s.
  const SCALE = 1 / 200;
  const conductor: LocalAgentDefinition = {
    ...createTextStatsAgent(),
    id: "7c0a4e21-9d35-4b8f-a1e6-3f2b8c9d0e66",
    name: "conductor",
    agentType: "coordinator",
    priceMicro: 3_000n,
    async handle(input) {
      await new Promise((resolve) => setTimeout(resolve, 40_000 * SCALE)); // "40 s": longer than the old 30 s limit
      return createTextStatsAgent().handle(input, { callerWallet: "" });
    },
  };
  let slow: AppContext;
  beforeAll(async () => {
    slow = await createTestApp({ agents: [conductor, createMemoryAgent()], marketplace: { timeScale: SCALE } });
    setAppContext(app);
  });
  const scaledDeps = (context: AppContext) => ({
    ...servicesFor(context).calls.deps,
    callTimeoutMs: (agent: Parameters<typeof agentTimeoutMs>[0]) => agentTimeoutMs(agent) * SCALE + 100,
  });

  it("waits as long as the agent's type allows: a coordinator slower than the old 30 s limit returns its output, billed once, readable later", async () => {
    expect(AGENT_TYPE_TIMEOUT_MS.coordinator).toBe(180_000);
    const { apiKey, key } = await createKeyedAccount(slow, { label: "conductor" });
    const wallet = new PublicKey(key.wallet.public_key);
    const before = await slow.ledger.getUsdcBalance(wallet);
    const verified = await verifyApiKey(slow.db, apiKey);
    if (!verified.ok) throw new Error(verified.code);
    const answer = await paidCallAnswer(scaledDeps(slow), verified.key, {
      requestId: "req_conductor",
      body: { agent_id: "conductor", input: { text: "one two two" } },
      idempotencyKey: null,
    });
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ output: { words: 3, top_words: ["two", "one"] }, usage: { agent_name: "conductor" } });
    expect(before - (await slow.ledger.getUsdcBalance(wallet))).toBe(3_000n);

    // Unscaled, the gateway waits the coordinator's 180 s plus the submission margin, and the route lives that long.
    const [listed] = (await slow.agents.client.listAgents()).filter((agent) => agent.name === "conductor");
    expect(servicesFor(slow).calls.deps.callTimeoutMs(listed!)).toBe(180_000 + slow.env.agentCalls.callMarginMs);
    expect(call.maxDuration * 1_000).toBeGreaterThanOrEqual(servicesFor(slow).calls.deps.callTimeoutMs(listed!));
    // With the old fixed 30 s limit (scaled), the same call is paid and its answer lost.
    const oldLimit = { ...scaledDeps(slow), callTimeoutMs: () => 30_000 * SCALE };
    const lost = await paidCallAnswer(oldLimit, verified.key, {
      requestId: "req_conductor_old",
      body: { agent_id: "conductor", input: { text: "lost" } },
      idempotencyKey: null,
    });
    expect(lost.body).toMatchObject({ error: { code: "agent_failed", paid: true } });

    setAppContext(slow);
    try {
      const read = await callRoute(readCall.GET, "GET", "/", { bearer: apiKey, params: { request_id: "req_conductor" } });
      expect(read.status).toBe(200);
      // A free account's call: its cost at the developer price, never billed.
      expect(read.json.call).toMatchObject({
        status: "succeeded",
        developer_cost_usd: "0.004500",
        billed_usd: "0.000000",
        output: { words: 3 },
      });
      // Another key cannot read it.
      const other = await createKeyedAccount(slow, { label: "other" });
      expect((await callRoute(readCall.GET, "GET", "/", { bearer: other.apiKey, params: { request_id: "req_conductor" } })).status).toBe(
        404,
      );
    } finally {
      setAppContext(app);
    }
  });

  /**
   * A chain whose status reads lag: each signature reads "unknown" the first time it is asked about,
   * as an RPC node behind the one the marketplace sent the payment through answers.
   */
  const laggingChain = (ledger: Ledger): Ledger => {
    const asked = new Set<string>();
    const lagging = async (signature: string) => {
      if (asked.has(signature)) return ledger.getSignatureStatus(signature);
      asked.add(signature);
      return "unknown" as const;
    };
    return new Proxy(ledger, {
      get: (target, property) => {
        if (property === "getSignatureStatus") return lagging;
        const value = Reflect.get(target, property, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
  };

  it.each([
    ["the chain already shows the payment: the answer is written with the settlement", "now", 0],
    ["the chain shows the payment late: the answer is kept on the pending row first", "late", 1],
  ] as const)(
    "a crash after the answer arrived loses nothing (%s): billed once, the caller reads the output back",
    async (_, chain, recovered) => {
      const { apiKey, key } = await createKeyedAccount(slow, { label: `crash-answered-${chain}` });
      const wallet = new PublicKey(key.wallet.public_key);
      const before = await slow.ledger.getUsdcBalance(wallet);
      const verified = await verifyApiKey(slow.db, apiKey);
      if (!verified.ok) throw new Error(verified.code);
      const deps = {
        ...scaledDeps(slow),
        ledger: chain === "late" ? laggingChain(slow.ledger) : slow.ledger,
        afterStep: (step: PipelineStep) => {
          if (step === "answered") throw new Error("killed");
        },
      };
      const body = { agent_id: "conductor", input: { text: "kept" } };
      const idempotencyKey = `kept-${chain}`;
      const requestId = `req_kept_${chain}`;
      await expect(paidCallAnswer(deps, verified.key, { requestId, body, idempotencyKey })).rejects.toThrow("killed");
      const [row] = await sql<{ status: string }>(slow.db, `select status from tdk_usage where request_id = '${requestId}'`);
      expect(row!.status).toBe(chain === "now" ? "succeeded" : "pending");
      expect(await recoverPendingCalls(servicesFor(slow).calls.deps, { keyId: key.id, olderThan: new Date(Date.now() + 1_000) })).toEqual({
        resolved: recovered,
        pending: 0,
      });

      setAppContext(slow);
      try {
        const read = await callRoute(readCall.GET, "GET", "/", { bearer: apiKey, params: { request_id: requestId } });
        expect(read.json.call).toMatchObject({ status: "succeeded", output: { words: 1 } });
        const replay = await callRoute(call.POST, "POST", "/", { bearer: apiKey, body, headers: { "idempotency-key": idempotencyKey } });
        expect(replay.status).toBe(200);
        expect(replay.headers.get("idempotent-replayed")).toBe("true");
        expect(replay.json.output).toMatchObject({ words: 1 });
        expect(before - (await slow.ledger.getUsdcBalance(wallet))).toBe(3_000n);
        const [billed] = await sql<{ n: number }>(
          slow.db,
          `select count(*)::int as n from tdk_usage where api_key_id = '${key.id}' and status = 'succeeded'`,
        );
        expect(billed!.n).toBe(1);
      } finally {
        setAppContext(app);
      }
    },
  );

  it("an answer without the output is completed from the marketplace's receipt of that payment", async () => {
    const { apiKey } = await createKeyedAccount(app, { label: "receipt" });
    const cut = alteredMarketplace(app, (path, body) => {
      if (path !== "/api/agents/call" || !body.ok) return body;
      const { output: _dropped, ...rest } = body;
      return rest;
    });
    const answer = await paidCallAnswer({ ...servicesFor(app).calls.deps, agents: cut }, await keyOf(apiKey), {
      requestId: "req_receipt",
      body: store("r", "from-receipt"),
      idempotencyKey: null,
    });
    expect(answer.body).toMatchObject({ output: { stored: true, key: "r" } });
    expect(answer.status).toBe(200);
  });

  it("a marketplace that reports success without the payment on the chain is not billed: pending, then released once the payment can no longer land", async () => {
    const { apiKey, key } = await createKeyedAccount(app, { label: "fake-success" });
    const wallet = new PublicKey(key.wallet.public_key);
    const before = await app.ledger.getUsdcBalance(wallet);
    const local = app.agents.local!;
    // Builds a real intent, then answers "success" for it without ever submitting the payment.
    const liar = {
      ...app.agents,
      client: new MarketplaceClient(local.apiUrl, async (url, init) => {
        if (new URL(url).pathname === "/api/agents/call")
          return Response.json({ ok: true, output: { stored: true }, tx_signature: "x", receipt_id: null });
        return local.fetch(url, init);
      }),
    };
    const answer = await paidCallAnswer({ ...servicesFor(app).calls.deps, agents: liar, confirmWaitMs: 50 }, await keyOf(apiKey), {
      requestId: "req_liar",
      body: store("l"),
      idempotencyKey: null,
    });
    expect(answer.status).toBe(502);
    expect(answer.body).toMatchObject({ error: { code: "outcome_unknown", paid: null } });
    expect((await sql<{ status: string }>(app.db, "select status from tdk_usage where request_id = 'req_liar'"))[0]!.status).toBe(
      "pending",
    );

    await expireBlockhashes(app);
    await recoverPendingCalls(servicesFor(app).calls.deps, { keyId: key.id, olderThan: new Date(Date.now() + 1_000) });
    const [row] = await sql<{ status: string; billing_status: string }>(
      app.db,
      "select status, billing_status from tdk_usage where request_id = 'req_liar'",
    );
    expect(row).toEqual({ status: "failed", billing_status: "not_billable" });
    expect(await app.ledger.getUsdcBalance(wallet)).toBe(before);
  });
});

describe("the catalog", () => {
  it("parses each agent on its own: a malformed entry is skipped and logged, null optional fields take the SDK's defaults", async () => {
    const local = app.agents.local!;
    const logs: string[] = [];
    const client = new MarketplaceClient(
      local.apiUrl,
      async (url, init) => {
        const response = await local.fetch(url, init);
        if (new URL(url).pathname !== "/api/agents") return response;
        const body = (await response.json()) as { ok: true; agents: unknown[] };
        return Response.json({ ...body, agents: [{ id: "broken-1", name: "broken", price_base: null, token: "USDC" }, ...body.agents] });
      },
      { log: (line) => logs.push(line) },
    );
    const agents = await client.listAgents();
    expect(agents.map((agent) => agent.name).sort()).toEqual(
      demoAgents()
        .map((agent) => agent.name)
        .sort(),
    );
    expect(logs.join("\n")).toMatch(/skipped agent broken-1 \(invalid price_base, owner_wallet\)/);
    const echo = agents.find((agent) => agent.name === "echo")!;
    expect(echo).toMatchObject({ description: "", fee_bps: 1_000, agent_type: "simple", input_schema: {}, status: "active" });

    // The agent listed with nulls is callable, and paid as fee_bps' default says (verified before signing).
    const { apiKey } = await createKeyedAccount(app, { label: "echo" });
    const res = await callRoute(call.POST, "POST", "/", {
      bearer: apiKey,
      body: { agent_id: createEchoAgent().id, input: { hello: "world" } },
    });
    expect(res.status).toBe(200);
    expect(res.json.output).toEqual({ echo: { hello: "world" } });
  });

  it("never prices a SOL-priced agent in USD, and never pays it", async () => {
    const catalog = await callRoute(agentsRoute.GET, "GET", "/");
    const sol = catalog.json.agents.find((agent: { name: string }) => agent.name === "solquote");
    expect(sol).toMatchObject({
      token: "SOL",
      callable: false,
      not_callable_reason: "not_priced_in_usdc",
      agent_cost_usd: null,
      developer_price_usd: null,
      developer_price_micro: null,
    });
    const usdcAgents = catalog.json.agents.filter((agent: { token: string }) => agent.token === "USDC");
    expect(usdcAgents.every((agent: { agent_cost_usd: string | null }) => agent.agent_cost_usd !== null)).toBe(true);

    const { apiKey, key } = await createKeyedAccount(app, { label: "sol" });
    const wallet = new PublicKey(key.wallet.public_key);
    const before = { usdc: await app.ledger.getUsdcBalance(wallet), sol: await app.ledger.getSolBalance(wallet) };
    const res = await callRoute(call.POST, "POST", "/", { bearer: apiKey, body: { agent_id: createSolPricedAgent().id, input: {} } });
    expect(res.status).toBe(403);
    expect(res.json.error).toMatchObject({ code: "agent_not_callable", reason: "not_priced_in_usdc", token: "SOL", paid: false });
    expect({ usdc: await app.ledger.getUsdcBalance(wallet), sol: await app.ledger.getSolBalance(wallet) }).toEqual(before);
    expect(await sql(app.db, "select 1 from tdk_usage where api_key_id = $1", [key.id])).toHaveLength(0);
  });
});

describe("the marketplace's per-wallet limit", () => {
  const twoCalls = [store("k1"), { agent_id: "textstats", input: { text: "two calls" } }];
  it("a marketplace 429 answers 429 marketplace_rate_limited with Retry-After, nothing paid, the reservation released", async () => {
    const limited = await createTestApp({ marketplace: { callsPerWalletPerMinute: 2 } });
    try {
      const { apiKey, key } = await createKeyedAccount(limited, { label: "m429" });
      const wallet = new PublicKey(key.wallet.public_key);
      // Two agents: one key's payments to one agent within a slot are identical and would be rebuilt (a third build).
      for (const body of twoCalls) expect((await callRoute(call.POST, "POST", "/", { bearer: apiKey, body })).status).toBe(200);
      const before = await limited.ledger.getUsdcBalance(wallet);
      const third = await callRoute(call.POST, "POST", "/", { bearer: apiKey, body: store("k3") });
      expect(third.status).toBe(429);
      expect(third.json.error).toMatchObject({ code: "marketplace_rate_limited", paid: false });
      expect(Number(third.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      expect(await limited.ledger.getUsdcBalance(wallet)).toBe(before);
      const [row] = await sql<{ status: string; reserved: number }>(
        limited.db,
        "select u.status, k.reserved_usdc_micro::int as reserved from tdk_usage u join tdk_api_keys k on k.id = u.api_key_id where u.api_key_id = $1 order by u.created_at desc limit 1",
        [key.id],
      );
      expect(row).toEqual({ status: "failed", reserved: 0 });
    } finally {
      setAppContext(app);
    }
  });

  it("the gateway keeps to the marketplace's limit itself: past it, 429 before anything is reserved", async () => {
    const paced = await createTestApp({ env: { MARKETPLACE_CALLS_PER_WALLET_PER_MINUTE: "2" } });
    try {
      const { apiKey, key } = await createKeyedAccount(paced, { tier: "pro", label: "paced" });
      // Two agents: one key's payments to one agent within a slot are identical and would be rebuilt (a third build).
      for (const body of twoCalls) expect((await callRoute(call.POST, "POST", "/", { bearer: apiKey, body })).status).toBe(200);
      const third = await callRoute(call.POST, "POST", "/", { bearer: apiKey, body: store("k3") });
      expect(third.status).toBe(429);
      expect(third.json.error).toMatchObject({ code: "marketplace_rate_limited", limit: 2, paid: false });
      expect(third.headers.get("retry-after")).toMatch(/^\d+$/);
      // The pro tier's own limit (10,000 a minute) is not what stopped it.
      expect(Number(third.headers.get("x-ratelimit-remaining"))).toBeGreaterThan(9_000);
      expect(await sql(paced.db, "select 1 from tdk_usage where api_key_id = $1", [key.id])).toHaveLength(2);
    } finally {
      setAppContext(app);
    }
  });
});
