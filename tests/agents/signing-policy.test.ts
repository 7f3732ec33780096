import { beforeAll, describe, expect, it } from "vitest";
import {
  TOKEN_PROGRAM_ID,
  createAssociatedTokenAccountIdempotentInstruction,
  createCloseAccountInstruction,
  createTransferInstruction,
  getAssociatedTokenAddressSync,
} from "@solana/spl-token";
import { ComputeBudgetProgram, Keypair, PublicKey, Transaction } from "@solana/web3.js";
import * as call from "@/app/api/tdk/v1/call/route";
import { createMemoryAgent, createTextStatsAgent, type LocalAgentDefinition } from "@/lib/agents/demo-agents";
import type { AppContext } from "@/lib/context";
import { setAppContext } from "@/lib/context";
import { verifyApiKey } from "@/lib/keys/keys";
import { callRoute, createKeyedAccount, createTestApp, faucetOf, paidCallAnswer, sql } from "../helpers/app";
import { tamperedPayments } from "../helpers/marketplace";
import { servicesFor } from "@/lib/services";

/**
 * The signing policy against a hostile marketplace (or an agent owner working with one): every
 * transaction below is refused before the key's wallet signs it, and nothing — USDC or SOL — leaves
 * the wallet. Each case was signed by the verifier this issue replaced.
 */

const owner = Keypair.generate();
const memory = { ...createMemoryAgent(), owner }; // 1,000 micro-USD, fee_bps 1,000: 900 to the owner, 100 to the protocol
const PRICE = 1_000n;

let app: AppContext;
beforeAll(async () => {
  app = await createTestApp({ agents: [memory, createTextStatsAgent()] });
});

const store = (key: string) => ({ agent_id: "warmmemory", input: { action: "store", key, value: "v" } });

async function walletOf(apiKey: string) {
  const verified = await verifyApiKey(app.db, apiKey);
  if (!verified.ok) throw new Error(verified.code);
  return verified.key;
}

/** Calls through the pipeline with this marketplace; returns the answer, the log and what the wallet lost. */
async function callWith(agents: AppContext["agents"], apiKey: string, label: string, body = store(label)) {
  const key = await walletOf(apiKey);
  const wallet = new PublicKey(key.wallet_public_key);
  const before = { usdc: await app.ledger.getUsdcBalance(wallet), sol: await app.ledger.getSolBalance(wallet) };
  const logs: string[] = [];
  const requestId = `req_${label}_${Date.now()}`;
  const answer = await paidCallAnswer({ ...servicesFor(app).calls.deps, agents, log: (line) => logs.push(line) }, key, {
    requestId,
    body,
    idempotencyKey: null,
  });
  const after = { usdc: await app.ledger.getUsdcBalance(wallet), sol: await app.ledger.getSolBalance(wallet) };
  const [row] = await sql<{ status: string; tx_signature: string | null }>(
    app.db,
    "select status, tx_signature from tdk_usage where request_id = $1",
    [requestId],
  );
  return { answer, logs: logs.join("\n"), lost: { usdc: before.usdc - after.usdc, sol: before.sol - after.sol }, row, requestId };
}

function expectRefusedBeforeSigning(result: Awaited<ReturnType<typeof callWith>>, reason: RegExp) {
  expect(result.answer.status).toBe(502);
  expect(result.answer.body).toMatchObject({ error: { code: "unsafe_transaction", paid: false } });
  expect((result.answer.body as { error: { message: string } }).error.message).toMatch(reason);
  expect(result.logs).toContain(`request_id=${result.requestId} refused to sign`);
  expect(result.logs).toMatch(reason);
  expect(result.lost).toEqual({ usdc: 0n, sol: 0n });
  // Refused before signing: no signature was ever recorded, the reservation is released.
  expect(result.row).toEqual({ status: "failed", tx_signature: null });
}

describe("compute budget", () => {
  it("refuses the priority-fee drain: a 1.4M compute-unit limit at a high price would have burned 8.4M lamports of a $0.001 call", async () => {
    const { apiKey } = await createKeyedAccount(app, { label: "drain" });
    const drain = tamperedPayments(app, (tx) => {
      tx.instructions.unshift(
        ComputeBudgetProgram.setComputeUnitLimit({ units: 1_400_000 }),
        ComputeBudgetProgram.setComputeUnitPrice({ microLamports: 6_000_000 }),
      );
      return tx;
    });
    expectRefusedBeforeSigning(
      await callWith(drain, apiKey, "drain"),
      /8400000 lamports of priority fee, above this gateway's ceiling of 10000/,
    );
  });

  it("refuses a second compute-unit limit or price, and any other compute-budget instruction", async () => {
    const { apiKey } = await createKeyedAccount(app, { label: "budget" });
    const twoLimits = tamperedPayments(app, (tx) => {
      tx.instructions.unshift(
        ComputeBudgetProgram.setComputeUnitLimit({ units: 1_000 }),
        ComputeBudgetProgram.setComputeUnitLimit({ units: 1_400_000 }),
      );
      return tx;
    });
    expectRefusedBeforeSigning(await callWith(twoLimits, apiKey, "two-limits"), /a second compute-unit limit/);
    const heap = tamperedPayments(app, (tx) => {
      tx.instructions.unshift(ComputeBudgetProgram.requestHeapFrame({ bytes: 256 * 1024 }));
      return tx;
    });
    expectRefusedBeforeSigning(await callWith(heap, apiKey, "heap"), /compute-budget instruction RequestHeapFrame is not allowed/);
  });

  it("signs a modest compute budget within the ceiling, and the wallet pays exactly base fee + priority fee", async () => {
    const modest = await createTestApp({
      agents: [createMemoryAgent()],
      marketplace: { computeBudget: { units: 50_000, microLamports: 100_000 } },
    });
    try {
      const { apiKey, key } = await createKeyedAccount(modest, { label: "modest" });
      const wallet = new PublicKey(key.wallet.public_key);
      const sol = await modest.ledger.getSolBalance(wallet);
      const res = await callRoute(call.POST, "POST", "/", { bearer: apiKey, body: store("modest") });
      expect(res.status).toBe(200);
      // 50,000 units × 100,000 micro-lamports = 5,000 lamports of priority fee, plus the 5,000 base fee.
      expect(sol - (await modest.ledger.getSolBalance(wallet))).toBe(10_000n);
    } finally {
      setAppContext(app);
    }
  });
});

describe("rent", () => {
  it("never pays a recipient's token-account rent: an owner who closes his account to collect ~0.002 SOL per caller gets nothing", async () => {
    const { apiKey } = await createKeyedAccount(app, { label: "rent" });
    expect((await callRoute(call.POST, "POST", "/", { bearer: apiKey, body: store("first") })).status).toBe(200);

    // The owner empties and closes his USDC account; the rent comes back to him.
    const ledger = faucetOf(app);
    await ledger.fund(owner.publicKey, 0n, 10_000_000n);
    const mint = ledger.usdcMint;
    const ownerAccount = getAssociatedTokenAddressSync(mint, owner.publicKey, true);
    const sink = Keypair.generate().publicKey;
    await ledger.fund(sink, 0n, 0n);
    const { blockhash, lastValidBlockHeight } = await ledger.latestBlockhash();
    const close = new Transaction({ feePayer: owner.publicKey, blockhash, lastValidBlockHeight }).add(
      createTransferInstruction(
        ownerAccount,
        getAssociatedTokenAddressSync(mint, sink, true),
        owner.publicKey,
        await ledger.getUsdcBalance(owner.publicKey),
      ),
      createCloseAccountInstruction(ownerAccount, owner.publicKey, owner.publicKey),
    );
    close.sign(owner);
    await ledger.sendTransaction(close);
    expect((await ledger.getUsdcAccount(owner.publicKey)).exists).toBe(false);

    // The marketplace now builds a payment that creates the owner's account at the caller's expense, as tetto-sdk's builder did.
    const created = await callWith(app.agents, apiKey, "recreate");
    expectRefusedBeforeSigning(created, /creates a token account for .* paying its rent; this gateway pays no rent/);
    // Its idempotent form too: a hostile marketplace would submit it after the owner closed the account again.
    const idempotent = tamperedPayments(app, (tx) => {
      const index = tx.instructions.findIndex((ix) => !ix.programId.equals(TOKEN_PROGRAM_ID));
      tx.instructions[index] = createAssociatedTokenAccountIdempotentInstruction(tx.feePayer!, ownerAccount, owner.publicKey, mint);
      return tx;
    });
    expectRefusedBeforeSigning(await callWith(idempotent, apiKey, "recreate-idempotent"), /paying its rent/);

    // Once the owner holds an account again, his agent is paid as before.
    await ledger.fund(owner.publicKey, 0n, 0n);
    expect((await callRoute(call.POST, "POST", "/", { bearer: apiKey, body: store("after") })).status).toBe(200);
  });
});

describe("the split and the signers", () => {
  it("refuses a split that ignores fee_bps (the whole price to the owner, nothing to the protocol)", async () => {
    const { apiKey } = await createKeyedAccount(app, { label: "split" });
    const greedy = tamperedPayments(app, (tx) => {
      const transfers = tx.instructions.filter((ix) => ix.programId.equals(TOKEN_PROGRAM_ID));
      const setAmount = (index: number, amount: bigint) => {
        const data = Buffer.from(transfers[index]!.data);
        data.writeBigUInt64LE(amount, 1);
        transfers[index]!.data = data;
      };
      setAmount(0, PRICE); // owner
      setAmount(1, 0n); // protocol
      return tx;
    });
    expectRefusedBeforeSigning(
      await callWith(greedy, apiKey, "split"),
      /splits the price 1000 to the owner and 0 to the protocol; fee_bps 1000 says 900 and 100/,
    );
  });

  it("reads the signers from the message header: a header asking for two signers is refused, whatever the wire's signature list says", async () => {
    const { apiKey } = await createKeyedAccount(app, { label: "signers" });
    const twoSigners = tamperedPayments(app, (tx) => {
      const wire = Buffer.from(tx.serialize({ requireAllSignatures: false, verifySignatures: false }));
      // [1 signature][64 bytes][header: numRequiredSignatures, numReadonlySigned, numReadonlyUnsigned][...]
      wire[1 + 64] = 2;
      return wire;
    });
    expectRefusedBeforeSigning(await callWith(twoSigners, apiKey, "signers"), /the message asks for 2 signers/);
  });

  it("refuses an instruction that names an account past the message's account list", async () => {
    const { apiKey } = await createKeyedAccount(app, { label: "past-the-list" });
    const pastTheList = tamperedPayments(app, (tx) => {
      const wire = Buffer.from(tx.serialize({ requireAllSignatures: false, verifySignatures: false }));
      // [1 signature][64 bytes][3 header bytes][account count][keys][blockhash][instruction count][program index]…
      const accounts = wire[1 + 64 + 3]!;
      expect(accounts).toBeLessThan(128); // a one-byte compact-u16
      wire[1 + 64 + 3 + 1 + accounts * 32 + 32 + 1] = accounts; // the first instruction's program: one past the last account
      return wire;
    });
    expectRefusedBeforeSigning(await callWith(pastTheList, apiKey, "past-the-list"), /names an account the message does not list/);
  });

  it("refuses a message that lists no account at all (it has no fee payer)", async () => {
    const { apiKey } = await createKeyedAccount(app, { label: "no-accounts" });
    const noAccounts = tamperedPayments(app, (tx) => {
      const wire = Buffer.from(tx.serialize({ requireAllSignatures: false, verifySignatures: false }));
      // [1 signature][64 bytes][3 header bytes][account count][keys]…: the count set to 0, the keys cut out.
      const accounts = wire[1 + 64 + 3]!;
      return Buffer.concat([wire.subarray(0, 1 + 64 + 3), Buffer.from([0]), wire.subarray(1 + 64 + 3 + 1 + accounts * 32)]);
    });
    expectRefusedBeforeSigning(await callWith(noAccounts, apiKey, "no-accounts"), /fee payer is not the key's wallet/);
  });

  it("refuses a versioned transaction", async () => {
    const { apiKey } = await createKeyedAccount(app, { label: "versioned" });
    const versioned = tamperedPayments(app, (tx) => {
      const wire = Buffer.from(tx.serialize({ requireAllSignatures: false, verifySignatures: false }));
      return Buffer.concat([wire.subarray(0, 65), Buffer.from([0x80]), wire.subarray(65)]);
    });
    expectRefusedBeforeSigning(await callWith(versioned, apiKey, "versioned"), /a versioned transaction/);
  });
});

describe("which agent is paid", () => {
  const squatted: LocalAgentDefinition = createMemoryAgent();
  const squatter: LocalAgentDefinition = {
    ...createTextStatsAgent(),
    id: "0b1e6c2d-0000-4000-8000-00000000aa01",
    name: squatted.id,
    owner: Keypair.generate(),
  };
  const twinA: LocalAgentDefinition = { ...createTextStatsAgent(), id: "0b1e6c2d-0000-4000-8000-00000000aa02", name: "twin" };
  const twinB: LocalAgentDefinition = { ...createTextStatsAgent(), id: "0b1e6c2d-0000-4000-8000-00000000aa03", name: "Twin" };
  const retired: LocalAgentDefinition = {
    ...createTextStatsAgent(),
    id: "0b1e6c2d-0000-4000-8000-00000000aa04",
    name: "retired",
    status: "inactive",
  };

  it("by id first: an agent named with another agent's UUID never captures its calls; a shared name is ambiguous; an inactive agent is refused", async () => {
    // The squatter is listed first: a first-match lookup by id *or* name would pick it.
    const market = await createTestApp({ agents: [squatter, squatted, twinA, twinB, retired] });
    try {
      const { apiKey, key } = await createKeyedAccount(market, { label: "squat" });
      const wallet = new PublicKey(key.wallet.public_key);
      const squatterBefore = await market.ledger.getUsdcBalance(squatter.owner!.publicKey);

      const byId = await callRoute(call.POST, "POST", "/", {
        bearer: apiKey,
        body: { agent_id: squatted.id, input: { action: "store", key: "k", value: "v" } },
      });
      expect(byId.status).toBe(200);
      expect(byId.json.usage).toMatchObject({ agent_id: squatted.id, agent_name: "warmmemory" });
      expect(await market.ledger.getUsdcBalance(squatter.owner!.publicKey)).toBe(squatterBefore);

      const usdc = await market.ledger.getUsdcBalance(wallet);
      const ambiguous = await callRoute(call.POST, "POST", "/", { bearer: apiKey, body: { agent_id: "TWIN", input: { text: "hello" } } });
      expect(ambiguous.status).toBe(409);
      expect(ambiguous.json.error).toMatchObject({ code: "ambiguous_agent", paid: false });
      expect(ambiguous.json.error.ids.sort()).toEqual([twinA.id, twinB.id].sort());
      expect(
        (await callRoute(call.POST, "POST", "/", { bearer: apiKey, body: { agent_id: twinB.id, input: { text: "hello" } } })).status,
      ).toBe(200);

      const usdcBeforeInactive = await market.ledger.getUsdcBalance(wallet);
      for (const agentId of [retired.id, "retired"]) {
        const inactive = await callRoute(call.POST, "POST", "/", { bearer: apiKey, body: { agent_id: agentId, input: { text: "hello" } } });
        expect(inactive.status).toBe(403);
        expect(inactive.json.error).toMatchObject({ code: "agent_not_callable", reason: "inactive", status: "inactive", paid: false });
      }
      expect(await market.ledger.getUsdcBalance(wallet)).toBe(usdcBeforeInactive);
      expect(usdcBeforeInactive).toBe(usdc - 2_000n); // only the call to twinB was paid since
      // Refused before anything was reserved: no usage row for the ambiguous or inactive calls.
      const rows = await sql<{ agent_id: string }>(market.db, "select agent_id from tdk_usage where api_key_id = $1 order by created_at", [
        key.id,
      ]);
      expect(rows.map((row) => row.agent_id)).toEqual([squatted.id, twinB.id]);
    } finally {
      setAppContext(app);
    }
  });
});
