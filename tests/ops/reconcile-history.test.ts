import { beforeAll, describe, expect, it } from "vitest";
import { createTransferCheckedInstruction, getAssociatedTokenAddressSync } from "@solana/spl-token";
import { Keypair, type PublicKey, Transaction } from "@solana/web3.js";
import { z } from "zod";
import { beginPaidCall, recordCallPayment, settleCall } from "@/lib/calls/usage-store";
import type { AppContext } from "@/lib/context";
import { openKeypair } from "@/lib/crypto/wallet-keys";
import { callFunction } from "@/lib/db";
import { hashApiKey } from "@/lib/keys/api-key";
import { moneyPolicy } from "@/lib/money/policy";
import { reconcile } from "@/lib/ops/reconcile";
import { toBase58 } from "@/lib/solana/base58";
import { USDC_DECIMALS } from "@/lib/money/units";
import type { LocalLedger } from "@/lib/solana/local-ledger";
import { nonceMemo } from "@/lib/solana/memo";
import { createKeyedAccount, createTestApp } from "../helpers/app";

/**
 * Reconciliation on the embedded ledger over a day of 10,000 paid calls, with two planted faults:
 * a payment on the chain that no usage row records, and a usage row whose payment never landed.
 * Exactly those two are found — none of the 10,000 good calls is reported (each signature is
 * checked against the chain's whole history), and the wallets' balances add up.
 */
const CALLS = 10_000;
const KEYS = 10;
const PRICE = 1_000n;

let app: AppContext;
beforeAll(async () => {
  app = await createTestApp();
});

interface Caller {
  keyId: string;
  keyHash: string;
  wallet: Keypair;
}

/** One call as the pipeline makes it, through the same SQL functions and a real payment on the chain. */
async function paidCall(caller: Caller, owner: PublicKey, i: number, options: { send: boolean } = { send: true }) {
  const { reservation } = await beginPaidCall(
    app.db,
    {
      keyId: caller.keyId,
      keyHash: caller.keyHash,
      requestId: `req_day_${i}`,
      agentId: "textstats",
      agentName: "textstats",
      agentCostMicro: PRICE,
      markupBps: 5_000,
      developerCostMicro: 1_500n,
      idempotencyKey: null,
      requestHash: "h",
    },
    moneyPolicy(app.env),
    new Date(0),
  );
  if (!reservation.ok) throw new Error(reservation.code);
  const mint = app.ledger.usdcMint;
  const { blockhash, lastValidBlockHeight } = await app.ledger.latestBlockhash();
  const tx = new Transaction({ feePayer: caller.wallet.publicKey, blockhash, lastValidBlockHeight }).add(
    createTransferCheckedInstruction(
      getAssociatedTokenAddressSync(mint, caller.wallet.publicKey, true),
      mint,
      getAssociatedTokenAddressSync(mint, owner, true),
      caller.wallet.publicKey,
      PRICE,
      USDC_DECIMALS,
    ),
    nonceMemo("day"),
  );
  tx.sign(caller.wallet);
  const signature = toBase58(tx.signature!);
  await recordCallPayment(app.db, reservation.usage.id, {
    paymentIntentId: `pi_${i}`,
    txSignature: signature,
    recentBlockhash: blockhash,
    lastValidBlockHeight,
  });
  if (options.send) await app.ledger.sendTransaction(tx);
  await settleCall(
    app.db,
    reservation.usage.id,
    {
      status: "succeeded",
      txSignature: signature,
      receiptId: null,
      outcome: {
        kind: "succeeded",
        requestId: `req_day_${i}`,
        charge: {
          agentId: "day",
          agentName: "day",
          agentCostMicro: Number(PRICE),
          markupBps: 0,
          developerCostMicro: Number(PRICE),
          tier: "pro",
        },
        output: {},
        txSignature: signature,
        receiptId: null,
      },
    },
    moneyPolicy(app.env),
  );
  return { usageId: reservation.usage.id, signature };
}

describe("npm run reconcile on the embedded ledger", () => {
  it("over a day of 10,000 calls, finds exactly the planted payment without a row and the planted row without a payment", async () => {
    const owner = Keypair.generate().publicKey;
    await (app.ledger as LocalLedger).fund(owner, 0n, 0n);
    const callers: Caller[] = [];
    for (let k = 0; k < KEYS; k += 1) {
      const { key, apiKey } = await createKeyedAccount(app, { tier: "pro", label: `day-${k}` });
      const secret = await callFunction(
        app.db,
        "tdk_get_wallet_secret",
        { p_key_id: key.id },
        z.object({ public_key: z.string(), secret_encrypted: z.string() }),
      );
      callers.push({
        keyId: key.id,
        keyHash: hashApiKey(apiKey),
        wallet: openKeypair(app.ring, secret.secret_encrypted, secret.public_key),
      });
    }
    const start = new Date(Date.now() - 1_000);
    for (let i = 0; i < CALLS; i += 1) await paidCall(callers[i % KEYS]!, owner, i);

    // Planted: a payment out of a wallet that no usage row records...
    const victim = callers[3]!;
    const mint = app.ledger.usdcMint;
    const { blockhash, lastValidBlockHeight } = await app.ledger.latestBlockhash();
    const stray = new Transaction({ feePayer: victim.wallet.publicKey, blockhash, lastValidBlockHeight }).add(
      createTransferCheckedInstruction(
        getAssociatedTokenAddressSync(mint, victim.wallet.publicKey, true),
        mint,
        getAssociatedTokenAddressSync(mint, owner, true),
        victim.wallet.publicKey,
        7_000n,
        USDC_DECIMALS,
      ),
    );
    stray.sign(victim.wallet);
    const straySignature = await app.ledger.sendTransaction(stray);
    // ...and a usage row recorded as paid whose payment never reached the chain.
    const unpaid = await paidCall(callers[7]!, owner, CALLS, { send: false });

    const report = await reconcile(app.db, app.ledger, { from: start, to: new Date(Date.now() + 60_000) });
    expect(report.calls).toBe(CALLS + 1);
    expect(report.differences.map((difference) => [difference.kind, difference.id])).toEqual([
      ["paid_in_usage_not_on_chain", unpaid.usageId],
      ["paid_on_chain_not_in_usage", straySignature],
    ]);
    expect(report.paid_on_chain_micro).toBe(CALLS * Number(PRICE));
  }, 300_000);
});
