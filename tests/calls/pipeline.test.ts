import { beforeAll, describe, expect, it } from "vitest";
import { TOKEN_PROGRAM_ID, getAssociatedTokenAddressSync } from "@solana/spl-token";
import { Keypair, PublicKey, SystemProgram, type Transaction } from "@solana/web3.js";
import * as call from "@/app/api/tdk/v1/call/route";
import { MarketplaceClient, type FetchLike } from "@/lib/agents/marketplace-client";
import { developerCostMicro } from "@/lib/agents/pricing";
import type { PipelineStep } from "@/lib/calls/paid-call";
import { recoverPendingCalls } from "@/lib/calls/recovery";
import type { AppContext } from "@/lib/context";
import { setAppContext } from "@/lib/context";
import { verifyApiKey } from "@/lib/keys/keys";
import type { VerifiedKey } from "@/lib/keys/schemas";
import { callRoute, countingDatabase, createKeyedAccount, createTestApp, expireBlockhashes, paidCallAnswer, sql } from "../helpers/app";
import { alteredMarketplace as alterMarketplace, tamperedPayments } from "../helpers/marketplace";
import { concurrencyBackends } from "../helpers/postgres";
import { servicesFor } from "@/lib/services";

let app: AppContext;
beforeAll(async () => {
  app = await createTestApp();
});

const PRICE = 1_000n; // warmmemory
const store = (key: string, value: string) => ({ agent_id: "warmmemory", input: { action: "store", key, value } });

async function verified(apiKey: string): Promise<VerifiedKey> {
  const result = await verifyApiKey(app.db, apiKey);
  if (!result.ok) throw new Error(result.code);
  return result.key;
}

async function rows(db: AppContext["db"], keyId: string) {
  return (await sql<any>(
    db,
    "select status, agent_cost_micro::int as cost, tx_signature, response is not null as answered from tdk_usage where api_key_id = $1 order by created_at",
    [keyId],
  )) as { status: string; cost: number; tx_signature: string | null; answered: boolean }[];
}

async function reserved(db: AppContext["db"], keyId: string): Promise<number> {
  return (await sql<{ r: number }>(db, "select reserved_usdc_micro::int as r from tdk_api_keys where id = $1", [keyId]))[0]!.r;
}

describe("Idempotency-Key", () => {
  it("replays the stored answer for the same key and body, and pays once", async () => {
    const { apiKey, key } = await createKeyedAccount(app);
    const wallet = new PublicKey(key.wallet.public_key);
    const before = await app.ledger.getUsdcBalance(wallet);
    const headers = { "idempotency-key": "order-123" };
    const first = await callRoute(call.POST, "POST", "/", { bearer: apiKey, body: store("a", "1"), headers });
    const second = await callRoute(call.POST, "POST", "/", {
      bearer: apiKey,
      body: { input: { value: "1", key: "a", action: "store" }, agent_id: "warmmemory" },
      headers,
    });
    expect(first.status).toBe(200);
    expect(second.status).toBe(200);
    expect(second.headers.get("idempotent-replayed")).toBe("true");
    expect(second.json).toEqual(first.json);
    expect(await app.ledger.getUsdcBalance(wallet)).toBe(before - PRICE);
    expect(await rows(app.db, key.id)).toHaveLength(1);

    const other = await callRoute(call.POST, "POST", "/", { bearer: apiKey, body: store("a", "2"), headers });
    expect(other.status).toBe(422);
    expect(other.json.error.code).toBe("idempotency_key_reused");
    expect(await app.ledger.getUsdcBalance(wallet)).toBe(before - PRICE);
  });

  it("answers 409 while the first request with the key is still running", async () => {
    const { apiKey } = await createKeyedAccount(app);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let reachedGate!: () => void;
    const atGate = new Promise<void>((resolve) => (reachedGate = resolve));
    const deps = {
      ...servicesFor(app).calls.deps,
      afterStep: async (step: PipelineStep) => {
        if (step === "reserved") {
          reachedGate();
          await gate;
        }
      },
    };
    const first = paidCallAnswer(deps, await verified(apiKey), {
      requestId: "req_first",
      body: store("slow", "1"),
      idempotencyKey: "slow-1",
    });
    await atGate;
    const concurrent = await callRoute(call.POST, "POST", "/", {
      bearer: apiKey,
      body: store("slow", "1"),
      headers: { "idempotency-key": "slow-1" },
    });
    expect(concurrent.status).toBe(409);
    expect(concurrent.json.error.code).toBe("idempotency_in_progress");
    release();
    expect((await first).status).toBe(200);
    const replay = await callRoute(call.POST, "POST", "/", {
      bearer: apiKey,
      body: store("slow", "1"),
      headers: { "idempotency-key": "slow-1" },
    });
    expect(replay.status).toBe(200);
    expect(replay.json.usage.request_id).toBe("req_first");
  });

  it("replays a refusal too, without calling the marketplace again", async () => {
    const { apiKey, key } = await createKeyedAccount(app);
    const headers = { "idempotency-key": "bad-input" };
    const body = { agent_id: "warmmemory", input: { action: "nope" } };
    const first = await callRoute(call.POST, "POST", "/", { bearer: apiKey, body, headers });
    const again = await callRoute(call.POST, "POST", "/", { bearer: apiKey, body, headers });
    expect(first.status).toBe(400);
    expect(again.status).toBe(400);
    expect(again.json).toEqual(first.json);
    expect(await rows(app.db, key.id)).toHaveLength(1);
  });
});

/** The concurrency guarantees hold on PGlite (one connection) and on PostgreSQL with a pool (row locks). */
describe.each(concurrencyBackends())("concurrency on $name", (backend) => {
  it("200 concurrent calls on a wallet holding enough for 100: exactly 100 paid, 100 refused with 402, to the micro-dollar", async () => {
    const { db, close } = await backend.open();
    try {
      // The initial funding fills the key's daily cap: no top-up can add to the wallet.
      // The real builder's payments carry no nonce, so one key's identical calls land one per slot
      // (tests/calls/marketplace-behaviour.test.ts); this test is about the reservation, so each payment is made unique.
      const tight = await createTestApp({
        db,
        env: { WALLET_INITIAL_USDC_MICRO: String(100n * PRICE), FUNDING_CAP_PAID_KEY_DAILY_USDC_MICRO: String(100n * PRICE) },
        marketplace: { memo: true },
      });
      const { apiKey, key } = await createKeyedAccount(tight, { tier: "paid" });
      const wallet = new PublicKey(key.wallet.public_key);
      const answers = await Promise.all(
        Array.from({ length: 200 }, (_, i) => callRoute(call.POST, "POST", "/", { bearer: apiKey, body: store(`k${i}`, `v${i}`) })),
      );
      const statuses = answers.map((answer) => answer.status);
      expect(statuses.filter((status) => status === 200)).toHaveLength(100);
      expect(statuses.filter((status) => status === 402)).toHaveLength(100);
      expect(answers.filter((answer) => answer.status === 402).every((answer) => answer.json.error.code === "insufficient_balance")).toBe(
        true,
      );

      const usage = await sql<{ status: string; tx_signature: string | null }>(
        tight.db,
        "select status, tx_signature from tdk_usage where api_key_id = $1",
        [key.id],
      );
      expect(usage).toHaveLength(100);
      expect(usage.every((row) => row.status === "succeeded")).toBe(true);
      const signatures = new Set(usage.map((row) => row.tx_signature));
      expect(signatures.size).toBe(100);
      for (const signature of signatures) expect(await tight.ledger.getSignatureStatus(signature!)).toBe("confirmed");
      // The chain and the database agree to the micro-dollar.
      expect(await tight.ledger.getUsdcBalance(wallet)).toBe(0n);
      const [cached] = await sql<{ w: number; r: number }>(
        tight.db,
        "select wallet_usdc_micro::int as w, reserved_usdc_micro::int as r from tdk_api_keys where id = $1",
        [key.id],
      );
      expect(cached).toEqual({ w: 0, r: 0 });
      expect(tight.agents.local!.submittedPayments).toBe(100);
      const [account] = await sql<{ ops: number }>(
        tight.db,
        "select ops_this_month as ops from tdk_accounts where id = (select account_id from tdk_api_keys where id = $1)",
        [key.id],
      );
      expect(account!.ops).toBe(100);
    } finally {
      setAppContext(app);
      await close();
    }
  }, 180_000);
});

describe("a crash between any two steps, then recovery", () => {
  class SimulatedCrash extends Error {}
  const steps: PipelineStep[] = ["reserved", "built", "signed", "submitted", "answered", "settled"];

  it.each(steps)("crash after %s: no double payment, no lost usage row, no charge without a call", async (crashAt) => {
    const { apiKey, key } = await createKeyedAccount(app, { label: `crash-${crashAt}` });
    const wallet = new PublicKey(key.wallet.public_key);
    const before = await app.ledger.getUsdcBalance(wallet);
    const deps = {
      ...servicesFor(app).calls.deps,
      afterStep: (step: PipelineStep) => {
        if (step === crashAt) throw new SimulatedCrash(`crash after ${step}`);
      },
    };
    const body = store("crash", crashAt);
    await expect(
      paidCallAnswer(deps, await verified(apiKey), { requestId: `req_crash_${crashAt}`, body, idempotencyKey: "retry-me" }),
    ).rejects.toBeInstanceOf(SimulatedCrash);

    // The intent survived the crash.
    const [row] = await rows(app.db, key.id);
    expect(row).toBeDefined();
    const paidOnChain = before - (await app.ledger.getUsdcBalance(wallet));
    expect([0n, PRICE]).toContain(paidOnChain);

    await recoverPendingCalls(servicesFor(app).calls.deps, { keyId: key.id, olderThan: new Date(Date.now() + 1_000) });
    if (crashAt === "signed") {
      // Signed but never sent: it could still land while its blockhash lives, so it stays pending…
      expect((await rows(app.db, key.id))[0]!.status).toBe("pending");
      // …until the chain moves on and it no longer can.
      await expireBlockhashes(app);
      await recoverPendingCalls(servicesFor(app).calls.deps, { keyId: key.id, olderThan: new Date(Date.now() + 1_000) });
    }

    const [settled] = await rows(app.db, key.id);
    // Once the agent's answer is kept on the row, a crash loses nothing: the call settles as succeeded, billed once.
    const expected = paidOnChain === PRICE ? (crashAt === "settled" || crashAt === "answered" ? "succeeded" : "agent_failed") : "failed";
    expect(settled!.status).toBe(expected);
    expect(settled!.answered).toBe(true);
    expect(await reserved(app.db, key.id)).toBe(0);
    if (settled!.tx_signature)
      expect(await app.ledger.getSignatureStatus(settled!.tx_signature)).toBe(paidOnChain ? "confirmed" : "unknown");

    // Retrying with the same Idempotency-Key never pays again.
    const retry = await callRoute(call.POST, "POST", "/", { bearer: apiKey, body, headers: { "idempotency-key": "retry-me" } });
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(before - (await app.ledger.getUsdcBalance(wallet))).toBe(paidOnChain);
    expect(await rows(app.db, key.id)).toHaveLength(1);

    // And the key keeps working: the next call pays exactly once.
    expect((await callRoute(call.POST, "POST", "/", { bearer: apiKey, body: store("after", "crash") })).status).toBe(200);
    expect(before - (await app.ledger.getUsdcBalance(wallet))).toBe(paidOnChain + PRICE);
  });
});

describe("the key's calls left pending, on its next call", () => {
  it("are recovered when they hold the reservation back, and the call is reserved again without their hold", async () => {
    const { apiKey, key } = await createKeyedAccount(app, { label: "stale-spend" });
    // The key may spend exactly one call's developer cost a day.
    const cost = developerCostMicro(PRICE, servicesFor(app).calls.deps.pricing.markupBps);
    await sql(app.db, "update tdk_api_keys set spend_limit_micro = $2, spend_limit_period = 'day' where id = $1", [key.id, cost]);
    const crashing = {
      ...servicesFor(app).calls.deps,
      afterStep: (step: PipelineStep) => {
        if (step === "reserved") throw new Error("killed after reserved");
      },
    };
    await expect(
      paidCallAnswer(crashing, await verified(apiKey), { requestId: "req_stale_1", body: store("s", "1"), idempotencyKey: null }),
    ).rejects.toThrow("killed");
    expect((await rows(app.db, key.id)).map((row) => row.status)).toEqual(["pending"]);

    // Recovery not due yet: the pending call's hold stands, and the limit refuses.
    const counted = countingDatabase(app.db);
    const deps = { ...servicesFor(app).calls.deps, db: counted.db };
    const refused = await paidCallAnswer(deps, await verified(apiKey), {
      requestId: "req_stale_2",
      body: store("s", "2"),
      idempotencyKey: null,
    });
    expect(refused).toMatchObject({ status: 402, body: { error: { code: "spend_limit_reached" } } });
    expect(counted.called).toEqual(["tdk_begin_paid_call"]);

    // Due: it is settled from the chain (never signed: failed, hold released), and the call goes through.
    counted.called.length = 0;
    const due = { ...deps, recoverPendingAfterMs: 0 };
    const answer = await paidCallAnswer(due, await verified(apiKey), {
      requestId: "req_stale_3",
      body: store("s", "3"),
      idempotencyKey: null,
    });
    expect(answer.status).toBe(200);
    expect(counted.called.slice(0, 4)).toEqual(["tdk_begin_paid_call", "tdk_list_pending_calls", "tdk_settle_call", "tdk_begin_paid_call"]);
    expect((await rows(app.db, key.id)).map((row) => row.status)).toEqual(["failed", "succeeded"]);
    expect(await reserved(app.db, key.id)).toBe(0);
  });

  it("cost no round trip when there are none: a paid call is three SQL calls, the wallet's secret comes with the reservation and the answer with the settlement", async () => {
    const { apiKey } = await createKeyedAccount(app, { label: "round-trips" });
    const counted = countingDatabase(app.db);
    const answer = await paidCallAnswer(
      { ...servicesFor(app).calls.deps, db: counted.db, recoverPendingAfterMs: 0 },
      await verified(apiKey),
      {
        requestId: "req_round_trips",
        body: store("r", "1"),
        idempotencyKey: null,
      },
    );
    expect(answer.status).toBe(200);
    expect(counted.called).toEqual(["tdk_begin_paid_call", "tdk_record_call_payment", "tdk_settle_call"]);
  });
});

describe("a marketplace that misbehaves", () => {
  const alteredMarketplace = (alter: (path: string, body: any) => any) => alterMarketplace(app, alter);
  const tamper = (change: (tx: Transaction) => Transaction) => tamperedPayments(app, change);

  const attacker = Keypair.generate().publicKey;
  const tamperings: [string, (tx: Transaction, wallet: PublicKey) => Transaction][] = [
    [
      "another recipient",
      (tx) => {
        const mint = app.ledger.usdcMint;
        const transfer = tx.instructions.find((ix) => ix.programId.equals(TOKEN_PROGRAM_ID))!;
        // Transfer: [source, destination, authority]; TransferChecked: [source, mint, destination, authority].
        transfer.keys[transfer.data[0] === 12 ? 2 : 1]!.pubkey = getAssociatedTokenAddressSync(mint, attacker, true);
        return tx;
      },
    ],
    [
      "a higher amount",
      (tx) => {
        const data = Buffer.from(tx.instructions[0]!.data);
        data.writeBigUInt64LE(data.readBigUInt64LE(1) + 1n, 1);
        tx.instructions[0]!.data = data;
        return tx;
      },
    ],
    [
      "an extra instruction",
      (tx, wallet) => tx.add(SystemProgram.transfer({ fromPubkey: wallet, toPubkey: attacker, lamports: 1_000_000 })),
    ],
  ];

  it.each(tamperings)("refuses to sign a payment with %s, pays nothing, and logs it", async (_label, change) => {
    const { apiKey, key } = await createKeyedAccount(app);
    const wallet = new PublicKey(key.wallet.public_key);
    const before = { usdc: await app.ledger.getUsdcBalance(wallet), sol: await app.ledger.getSolBalance(wallet) };
    const logs: string[] = [];
    const deps = { ...servicesFor(app).calls.deps, agents: tamper((tx) => change(tx, wallet)), log: (line: string) => logs.push(line) };
    const requestId = `req_tampered_${key.id}`;
    const answer = await paidCallAnswer(deps, await verified(apiKey), { requestId, body: store("t", "1"), idempotencyKey: null });
    expect(answer.status).toBe(502);
    expect(answer.body).toMatchObject({ error: { code: "unsafe_transaction", paid: false } });
    expect(logs.join("\n")).toContain(`request_id=${requestId} refused to sign`);
    expect(logs.join("\n")).not.toContain(apiKey);
    expect(await app.ledger.getUsdcBalance(wallet)).toBe(before.usdc);
    expect(await app.ledger.getSolBalance(wallet)).toBe(before.sol);
    const [row] = await rows(app.db, key.id);
    expect(row).toMatchObject({ status: "failed", tx_signature: null });
    expect(await reserved(app.db, key.id)).toBe(0);
  });

  it("a failing build (5xx) releases the reservation: 502, nothing paid", async () => {
    const { apiKey, key } = await createKeyedAccount(app);
    const deps = {
      ...servicesFor(app).calls.deps,
      agents: alteredMarketplace((path, body) =>
        path.endsWith("/build-transaction") ? new Response(JSON.stringify({ ok: false, error: "database down" }), { status: 503 }) : body,
      ),
    };
    const answer = await paidCallAnswer(deps, await verified(apiKey), {
      requestId: "req_5xx",
      body: store("x", "1"),
      idempotencyKey: null,
    });
    expect(answer).toMatchObject({ status: 502, body: { error: { code: "marketplace_error", paid: false, message: "database down" } } });
    expect((await rows(app.db, key.id))[0]!.status).toBe("failed");
    expect(await reserved(app.db, key.id)).toBe(0);
  });

  it("no answer and no payment on the chain yet: 502 outcome_unknown, kept pending, then released once the payment can no longer land", async () => {
    const { apiKey, key } = await createKeyedAccount(app);
    const wallet = new PublicKey(key.wallet.public_key);
    const before = await app.ledger.getUsdcBalance(wallet);
    const unreachable: FetchLike = async (url, init) => {
      if (new URL(url).pathname === "/api/agents/call") throw new TypeError("fetch failed: connect ECONNREFUSED");
      return app.agents.local!.fetch(url, init);
    };
    const deps = {
      ...servicesFor(app).calls.deps,
      agents: { ...app.agents, client: new MarketplaceClient(app.agents.local!.apiUrl, unreachable) },
    };
    const answer = await paidCallAnswer(deps, await verified(apiKey), {
      requestId: `req_unknown_${key.id}`,
      body: store("x", "1"),
      idempotencyKey: "unknown-1",
    });
    expect(answer).toMatchObject({ status: 502, body: { error: { code: "outcome_unknown", paid: null } } });
    expect((await rows(app.db, key.id))[0]!.status).toBe("pending");
    // A retry with the same Idempotency-Key waits for the outcome instead of paying again.
    expect(
      (await callRoute(call.POST, "POST", "/", { bearer: apiKey, body: store("x", "1"), headers: { "idempotency-key": "unknown-1" } }))
        .status,
    ).toBe(409);

    await expireBlockhashes(app);
    expect(await recoverPendingCalls(servicesFor(app).calls.deps, { keyId: key.id, olderThan: new Date(Date.now() + 1_000) })).toEqual({
      resolved: 1,
      pending: 0,
    });
    expect((await rows(app.db, key.id))[0]!.status).toBe("failed");
    expect(await reserved(app.db, key.id)).toBe(0);
    expect(await app.ledger.getUsdcBalance(wallet)).toBe(before);
    const replay = await callRoute(call.POST, "POST", "/", {
      bearer: apiKey,
      body: store("x", "1"),
      headers: { "idempotency-key": "unknown-1" },
    });
    expect(replay.status).toBe(502);
    expect(replay.json.error).toMatchObject({ code: "marketplace_error", paid: false });
  });

  it("an answer lost after payment is resolved from the chain: paid, agent_failed, not paid again", async () => {
    const { apiKey, key } = await createKeyedAccount(app);
    const wallet = new PublicKey(key.wallet.public_key);
    const before = await app.ledger.getUsdcBalance(wallet);
    const deps = {
      ...servicesFor(app).calls.deps,
      agents: alteredMarketplace((path, body) => {
        if (path === "/api/agents/call") throw new TypeError("fetch failed: socket hang up");
        return body;
      }),
    };
    const answer = await paidCallAnswer(deps, await verified(apiKey), {
      requestId: "req_lost",
      body: store("x", "1"),
      idempotencyKey: null,
    });
    expect(answer).toMatchObject({ status: 502, body: { error: { code: "agent_failed", paid: true } } });
    expect(await app.ledger.getUsdcBalance(wallet)).toBe(before - PRICE);
    expect((await rows(app.db, key.id))[0]!.status).toBe("agent_failed");
  });
});
