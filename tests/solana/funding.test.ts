import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Keypair, PublicKey } from "@solana/web3.js";
import { z } from "zod";
import { registerAccount } from "@/lib/auth/accounts";
import type { AppContext } from "@/lib/context";
import { callFunction } from "@/lib/db";
import { keyDeps } from "@/lib/keys/deps";
import { createApiKey } from "@/lib/keys/keys";
import { toBase58 } from "@/lib/solana/base58";
import { buildFundingTransaction, fundWallet, listFundings, resolvePendingFundings } from "@/lib/solana/funding";
import { LocalLedger } from "@/lib/solana/local-ledger";
import { loadTreasury } from "@/lib/solana/treasury";
import { createTestApp, strongPassword, uniqueEmail } from "../helpers/app";

let app: AppContext;
let accountId: string;
let treasury: Keypair;

beforeAll(async () => {
  app = await createTestApp();
  const account = await registerAccount(app.db, uniqueEmail("funding"), strongPassword);
  if (!account.ok) throw new Error("setup");
  accountId = account.account.id;
  treasury = (await loadTreasury(app.db, app.ring))!;
});

async function newKey() {
  // Unfunded at creation, so each test sees only the fundings it makes.
  const deps = await keyDeps(app);
  const result = await createApiKey({ ...deps, config: { ...deps.config, initialUsdcMicro: 0n, initialSolLamports: 0n } }, accountId, "k");
  if (!result.ok) throw new Error(result.code);
  return result.key;
}

describe("wallet funding on the local ledger", () => {
  it("moves exactly the configured amounts; the treasury pays the fee and the token account's rent", async () => {
    const key = await newKey();
    const owner = new PublicKey(key.wallet.public_key);
    const treasuryBefore = { usdc: await app.ledger.getUsdcBalance(treasury.publicKey), sol: await app.ledger.getSolBalance(treasury.publicKey) };

    const funding = await fundWallet({ db: app.db, ledger: app.ledger, treasury }, { apiKeyId: key.id, wallet: owner, usdcMicro: 2_500_000n, solLamports: 7_000_000n, reason: "topup" });
    expect(funding.status).toBe("confirmed");

    expect(await app.ledger.getUsdcBalance(owner)).toBe(2_500_000n);
    expect(await app.ledger.getSolBalance(owner)).toBe(7_000_000n);
    expect(await app.ledger.getUsdcBalance(treasury.publicKey)).toBe(treasuryBefore.usdc - 2_500_000n);
    const solSpent = treasuryBefore.sol - (await app.ledger.getSolBalance(treasury.publicKey));
    // 7,000,000 sent + 5,000 fee + the token account's rent (2,039,280 lamports for 165 bytes).
    expect(solSpent).toBe(7_000_000n + 5_000n + 2_039_280n);
  });

  it("two identical fundings are two transactions, both recorded with their signatures", async () => {
    const key = await newKey();
    const owner = new PublicKey(key.wallet.public_key);
    const deps = { db: app.db, ledger: app.ledger, treasury };
    const request = { apiKeyId: key.id, wallet: owner, usdcMicro: 1_000_000n, solLamports: 0n, reason: "topup" as const };
    const first = await fundWallet(deps, request);
    const second = await fundWallet(deps, request);
    expect(first.tx_signature).not.toBe(second.tx_signature);
    expect(await app.ledger.getUsdcBalance(owner)).toBe(2_000_000n);
    const rows = await listFundings(app.db, key.id);
    expect(rows.map((row) => [row.status, row.tx_signature])).toEqual([
      ["confirmed", first.tx_signature],
      ["confirmed", second.tx_signature],
    ]);
  });

  it("a funding the chain rejects is recorded failed and moves nothing", async () => {
    const key = await newKey();
    const owner = new PublicKey(key.wallet.public_key);
    const poorTreasury = Keypair.generate(); // no SOL, no USDC: cannot even pay the fee
    const funding = await fundWallet({ db: app.db, ledger: app.ledger, treasury: poorTreasury }, { apiKeyId: key.id, wallet: owner, usdcMicro: 1n, solLamports: 1n, reason: "topup" });
    expect(funding.status).toBe("failed");
    expect(funding.error).toMatch(/Transaction failed/);
    expect(await app.ledger.getUsdcBalance(owner)).toBe(0n);
  });

  it("a crash after sending leaves a pending record that is resolved from the chain, not sent again", async () => {
    const key = await newKey();
    const owner = new PublicKey(key.wallet.public_key);
    const request = { apiKeyId: key.id, wallet: owner, usdcMicro: 3_000_000n, solLamports: 0n, reason: "topup" as const };
    // What fundWallet does, stopped right after the send (as if the process died there).
    const tx = await buildFundingTransaction(app.ledger, treasury, request);
    const signature = toBase58(tx.signature!);
    await callFunction(app.db, "tdk_record_funding", { p_api_key_id: key.id, p_reason: "topup", p_usdc_micro: 3_000_000n, p_sol_lamports: 0n, p_tx_signature: signature, p_recent_blockhash: tx.recentBlockhash! }, z.object({ ok: z.literal(true) }));
    await app.ledger.sendTransaction(tx);
    expect((await listFundings(app.db, key.id))[0]!.status).toBe("pending");

    expect(await resolvePendingFundings(app.db, app.ledger, new Date())).toBeGreaterThanOrEqual(1);
    const [row] = await listFundings(app.db, key.id);
    expect(row).toMatchObject({ status: "confirmed", tx_signature: signature });
    expect(await app.ledger.getUsdcBalance(owner)).toBe(3_000_000n);
    // A second pass changes nothing.
    await resolvePendingFundings(app.db, app.ledger, new Date());
    expect(await app.ledger.getUsdcBalance(owner)).toBe(3_000_000n);
  });
});

describe("the local ledger's state survives a restart", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "tdk-ledger-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("reloads the same mint, balances and transaction history from disk", async () => {
    const owner = Keypair.generate().publicKey;
    const ledger = await LocalLedger.open(dir);
    const signature = await ledger.fund(owner, 4_200_000n, 1_000_000n);
    const mint = ledger.usdcMint.toBase58();

    // A fresh process would build a new instance from the files: simulate with a new module-level map entry.
    const { LiteSVM } = await import("litesvm");
    const { readFile } = await import("node:fs/promises");
    const state = await readFile(path.join(dir, "ledger.bin"));
    const reloaded = LiteSVM.fromBytes(new Uint8Array(state));
    const { address } = await import("@solana/kit");
    expect(reloaded.getBalance(address(owner.toBase58()))).toBe(1_000_000n);

    (globalThis as any).__tdkLocalLedger.delete(dir);
    const reopened = await LocalLedger.open(dir);
    expect(reopened).not.toBe(ledger);
    expect(reopened.usdcMint.toBase58()).toBe(mint);
    expect(await reopened.getUsdcBalance(owner)).toBe(4_200_000n);
    expect(await reopened.getSignatureStatus(signature)).toBe("confirmed");
  });
});
