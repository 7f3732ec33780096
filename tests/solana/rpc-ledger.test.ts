import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTransferCheckedInstruction, getAssociatedTokenAddressSync } from "@solana/spl-token";
import { address, createSolanaRpc } from "@solana/kit";
import { Connection, Keypair, PublicKey, SystemProgram, Transaction } from "@solana/web3.js";
import * as call from "@/app/api/tdk/v1/call/route";
import { MarketplaceClient, type FetchLike } from "@/lib/agents/marketplace-client";
import type { AppContext } from "@/lib/context";
import { verifyApiKey } from "@/lib/keys/keys";
import { topUpWallet } from "@/lib/solana/funding";
import { toBase58 } from "@/lib/solana/base58";
import type { LedgerError } from "@/lib/solana/ledger";
import { USDC_DECIMALS } from "@/lib/money/units";
import { landingOf } from "@/lib/solana/landing";
import { RpcLedger } from "@/lib/solana/rpc-ledger";
import { callRoute, createKeyedAccount, createTestApp, paidCallAnswer, sql } from "../helpers/app";
import { LocalnetLedger, startRpcProcess, type RpcProcess } from "../helpers/local-rpc";
import { servicesFor } from "@/lib/services";

/**
 * `RpcLedger` — the only way the gateway reaches a real cluster — against the local JSON-RPC
 * cluster in its own process, through web3.js `Connection` exactly as in production.
 */

let rpc: RpcProcess;
let app: AppContext;
let ledger: LocalnetLedger;
beforeAll(async () => {
  rpc = await startRpcProcess();
  ledger = new LocalnetLedger(rpc.url, rpc.usdcMint);
  app = await createTestApp({ ledger: "rpc" });
}, 120_000);
afterAll(async () => rpc?.stop());

describe("the local JSON-RPC cluster", () => {
  it("speaks the methods web3.js uses: blockhash, height, balances, accounts, rent, fees, statuses with history", async () => {
    const connection = new Connection(rpc.url, "confirmed");
    const owner = Keypair.generate();
    await ledger.fund(owner.publicKey, 2_500_000n, 50_000_000n);
    expect(await connection.getBalance(owner.publicKey)).toBe(50_000_000);
    const account = getAssociatedTokenAddressSync(new PublicKey(rpc.usdcMint), owner.publicKey, true);
    expect((await connection.getTokenAccountBalance(account)).value).toMatchObject({ amount: "2500000", decimals: 6 });
    const [info, missing] = (await connection.getMultipleAccountsInfo([account, Keypair.generate().publicKey]))!;
    expect(info!.data.length).toBe(165);
    expect(missing).toBeNull();
    expect(await connection.getMinimumBalanceForRentExemption(165)).toBe(2_039_280);

    const heightBefore = await connection.getBlockHeight();
    const { blockhash, lastValidBlockHeight } = await connection.getLatestBlockhash();
    const heightAfter = await connection.getBlockHeight();
    expect(lastValidBlockHeight).toBeGreaterThanOrEqual(heightBefore + 150);
    expect(lastValidBlockHeight).toBeLessThanOrEqual(heightAfter + 150);
    const tx = new Transaction({ feePayer: owner.publicKey, blockhash, lastValidBlockHeight }).add(
      SystemProgram.transfer({ fromPubkey: owner.publicKey, toPubkey: Keypair.generate().publicKey, lamports: 1_000_000 }),
    );
    expect((await connection.getFeeForMessage(tx.compileMessage())).value).toBe(5_000);
    tx.sign(owner);
    // web3.js re-stamps the blockhash of what it simulates (and skips sigverify): a copy, so `tx` stays signed.
    expect((await connection.simulateTransaction(Transaction.from(tx.serialize()))).value.err).toBeNull();
    const signature = await connection.sendRawTransaction(tx.serialize());
    const [status] = (await connection.getSignatureStatuses([signature], { searchTransactionHistory: true })).value;
    expect(status).toMatchObject({ err: null, confirmationStatus: "finalized" });
    expect(await connection.getBalance(owner.publicKey)).toBe(50_000_000 - 1_000_000 - 5_000);
    // Preflight refuses a duplicate; the history knows the signature.
    await expect(connection.sendRawTransaction(tx.serialize())).rejects.toThrow(/already been processed/);
    expect((await connection.getSignaturesForAddress(owner.publicKey)).map((entry) => entry.signature)).toContain(signature);
  });

  it("answers @solana/kit's RPC client too", async () => {
    const kit = createSolanaRpc(rpc.url);
    const owner = Keypair.generate();
    await ledger.fund(owner.publicKey, 0n, 7_000_000n);
    expect((await kit.getBalance(address(owner.publicKey.toBase58())).send()).value).toBe(7_000_000n);
    const heightBefore = await kit.getBlockHeight().send();
    const { value } = await kit.getLatestBlockhash().send();
    const heightAfter = await kit.getBlockHeight().send();
    expect(value.lastValidBlockHeight >= heightBefore + 150n && value.lastValidBlockHeight <= heightAfter + 150n).toBe(true);
    expect(await kit.getMinimumBalanceForRentExemption(165n).send()).toBe(2_039_280n);
  });

  it("slots advance and blockhashes expire as on a cluster", async () => {
    const connection = new Connection(rpc.url, "confirmed");
    const first = await connection.getBlockHeight();
    await new Promise((resolve) => setTimeout(resolve, 900));
    expect(await connection.getBlockHeight()).toBeGreaterThanOrEqual(first + 2);
    const { blockhash } = await connection.getLatestBlockhash();
    expect((await connection.isBlockhashValid(blockhash)).value).toBe(true);
    await ledger.expireBlockhashes();
    expect((await connection.isBlockhashValid(blockhash)).value).toBe(false);
  });
});

describe("RpcLedger on the local cluster", () => {
  const PRICE = 1_000n;
  const store = (key: string) => ({ agent_id: "warmmemory", input: { action: "store", key, value: "v" } });

  it("funds a new key's wallet from the treasury, and tops it up within the caps", async () => {
    // A free key: the first funding is cut to the free tier's daily cap ($5), and no top-up fits after it.
    const free = await createKeyedAccount(app, { label: "rpc-fund" });
    const freeWallet = new PublicKey(free.key.wallet.public_key);
    expect(await app.ledger.getUsdcBalance(freeWallet)).toBe(5_000_000n);
    expect(await app.ledger.getSolBalance(freeWallet)).toBeGreaterThan(0n);
    const deps = (await servicesFor(app).funding.deps())!;
    expect((await topUpWallet(deps, { id: free.key.id, wallet: freeWallet }, { usdcMicro: 6_000_000n, solLamports: 0n })).ok).toBe(false);
    expect(await app.ledger.getUsdcBalance(freeWallet)).toBe(5_000_000n);

    // A paid key is topped up to the target, confirmed on the chain.
    const paid = await createKeyedAccount(app, { tier: "paid", label: "rpc-topup" });
    const paidWallet = new PublicKey(paid.key.wallet.public_key);
    const before = await app.ledger.getUsdcBalance(paidWallet);
    const topped = await topUpWallet(deps, { id: paid.key.id, wallet: paidWallet }, { usdcMicro: before + 3_000_000n, solLamports: 0n });
    expect(topped.ok).toBe(true);
    expect(await app.ledger.getUsdcBalance(paidWallet)).toBe(before + 3_000_000n);
  });

  it("reads many wallets' balances in batches of 50 (getMultipleAccounts, 100 accounts a request), equal to reading them one by one", async () => {
    // A counting proxy in front of the cluster: which JSON-RPC methods the ledger sends, and how often.
    const methods: string[] = [];
    const proxy = createServer(async (request, response) => {
      const chunks: Buffer[] = [];
      for await (const chunk of request) chunks.push(chunk as Buffer);
      const body = Buffer.concat(chunks).toString("utf8");
      for (const message of [JSON.parse(body)].flat()) methods.push(message.method);
      const upstream = await fetch(rpc.url, { method: "POST", headers: { "content-type": "application/json" }, body });
      response.writeHead(upstream.status, { "content-type": "application/json" }).end(await upstream.text());
    });
    await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
    try {
      const counted = new RpcLedger(`http://127.0.0.1:${(proxy.address() as AddressInfo).port}`, rpc.usdcMint);
      // 120 wallets: USDC and SOL, SOL and an empty USDC account, and never funded.
      const wallets = Array.from({ length: 120 }, () => Keypair.generate().publicKey);
      for (const [i, wallet] of wallets.entries()) {
        if (i % 3 === 0) await ledger.fund(wallet, BigInt(1_000 + i), BigInt(2_000_000 + i));
        if (i % 3 === 1) await ledger.fund(wallet, 0n, BigInt(3_000_000 + i));
      }
      methods.length = 0;
      const batched = await counted.getWalletBalances(wallets);
      expect(methods).toEqual(["getMultipleAccounts", "getMultipleAccounts", "getMultipleAccounts"]);
      const oneByOne = await Promise.all(
        wallets.map(async (wallet) => ({ solLamports: await ledger.getSolBalance(wallet), usdc: await ledger.getUsdcAccount(wallet) })),
      );
      expect(batched).toEqual(oneByOne);
      expect(batched[0]).toMatchObject({ solLamports: 2_000_000n, usdc: { exists: true, amount: 1_000n } });
      expect(batched[1]).toMatchObject({ solLamports: 3_000_001n, usdc: { exists: true, amount: 0n } });
      expect(batched[2]).toEqual({ solLamports: 0n, usdc: { exists: false, amount: 0n, lamports: 0n } });
    } finally {
      proxy.close();
    }
  });

  it("a paid call pays the agent once, and the payment is read back as landed", async () => {
    const { apiKey, key } = await createKeyedAccount(app, { tier: "paid", label: "rpc-call" });
    const wallet = new PublicKey(key.wallet.public_key);
    const before = await app.ledger.getUsdcBalance(wallet);
    const res = await callRoute(call.POST, "POST", "/", { bearer: apiKey, body: store("k") });
    expect(res.status, res.text).toBe(200);
    expect(before - (await app.ledger.getUsdcBalance(wallet))).toBe(PRICE);
    expect(await app.ledger.getSignatureStatus(res.json.usage.tx_signature)).toBe("confirmed");
    expect(await app.ledger.usdcDelta(res.json.usage.tx_signature, wallet)).toBe(-PRICE);
  });

  it("an outcome lost after sending is resolved from the chain: paid, agent_failed, never paid again", async () => {
    const { apiKey, key } = await createKeyedAccount(app, { tier: "paid", label: "rpc-lost" });
    const wallet = new PublicKey(key.wallet.public_key);
    const before = await app.ledger.getUsdcBalance(wallet);
    const local = app.agents.local!;
    const lost: FetchLike = async (url, init) => {
      const response = await local.fetch(url, init);
      if (new URL(url).pathname === "/api/agents/call") throw new TypeError("fetch failed: socket hang up");
      return response;
    };
    const verified = await verifyApiKey(app.db, apiKey);
    if (!verified.ok) throw new Error(verified.code);
    const answer = await paidCallAnswer(
      { ...servicesFor(app).calls.deps, agents: { ...app.agents, client: new MarketplaceClient(local.apiUrl, lost) } },
      verified.key,
      {
        requestId: `req_rpc_lost_${key.id}`,
        body: store("lost"),
        idempotencyKey: null,
      },
    );
    expect(answer.body).toMatchObject({ error: { code: "agent_failed", paid: true } });
    expect(before - (await app.ledger.getUsdcBalance(wallet))).toBe(PRICE);
    const [row] = await sql<{ status: string }>(app.db, "select status from tdk_usage where api_key_id = $1", [key.id]);
    expect(row!.status).toBe("agent_failed");
  });

  it("a payment signed but never sent is pending while it could land, and not paid once its blockhash expired", async () => {
    const { key } = await createKeyedAccount(app, { tier: "paid", label: "rpc-expired" });
    const wallet = new PublicKey(key.wallet.public_key);
    // A signed payment that never reaches the chain: its landing is unknown until the chain moves on.
    const payer = Keypair.generate();
    await ledger.fund(payer.publicKey, 10_000n, 10_000_000n);
    const mint = new PublicKey(rpc.usdcMint);
    const { blockhash, lastValidBlockHeight } = await app.ledger.latestBlockhash();
    const tx = new Transaction({ feePayer: payer.publicKey, blockhash, lastValidBlockHeight }).add(
      createTransferCheckedInstruction(
        getAssociatedTokenAddressSync(mint, payer.publicKey, true),
        mint,
        getAssociatedTokenAddressSync(mint, wallet, true),
        payer.publicKey,
        1_000n,
        USDC_DECIMALS,
      ),
    );
    tx.sign(payer);
    const signed = { signature: toBase58(tx.signature!), lastValidBlockHeight: await app.ledger.lastValidBlockHeight(blockhash) };
    expect(await landingOf(app.ledger, signed)).toBe("unknown");
    await (app.ledger as LocalnetLedger).expireBlockhashes();
    expect(await landingOf(app.ledger, signed)).toBe("not_landed");
    // Sending it now is refused by preflight: it never lands.
    await expect(app.ledger.sendTransaction(tx)).rejects.toMatchObject({ outcome: "rejected" } satisfies Partial<LedgerError>);
    expect(await app.ledger.getSignatureStatus(signed.signature)).toBe("unknown");
  });
});
