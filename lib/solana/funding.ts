import {
  createAssociatedTokenAccountIdempotentInstruction,
  createTransferCheckedInstruction,
  getAssociatedTokenAddressSync,
} from "@solana/spl-token";
import { SystemProgram, Transaction, type Keypair, type PublicKey } from "@solana/web3.js";
import { z } from "zod";
import { callFunction, type Database } from "@/lib/db";
import { toBase58 } from "./base58";
import { LedgerError, USDC_DECIMALS, type Ledger } from "./ledger";
import { nonceMemo } from "./memo";

export const fundingSchema = z.object({
  id: z.string().uuid(),
  api_key_id: z.string().uuid(),
  wallet_public_key: z.string(),
  reason: z.enum(["initial", "topup"]),
  usdc_micro: z.number().int().nonnegative(),
  sol_lamports: z.number().int().nonnegative(),
  tx_signature: z.string(),
  recent_blockhash: z.string().nullable(),
  status: z.enum(["pending", "confirmed", "failed"]),
  error: z.string().nullable(),
  created_at: z.string(),
  resolved_at: z.string().nullable(),
});
export type Funding = z.infer<typeof fundingSchema>;

const recordResultSchema = z.discriminatedUnion("ok", [
  z.object({ ok: z.literal(true), funding: fundingSchema }),
  z.object({ ok: z.literal(false), code: z.string() }),
]);
const resolveResultSchema = z.object({ ok: z.boolean(), code: z.string().optional(), funding: fundingSchema.optional() });

export interface FundingRequest {
  apiKeyId: string;
  wallet: PublicKey;
  usdcMicro: bigint;
  solLamports: bigint;
  reason: Funding["reason"];
}

export interface FundingDeps {
  db: Database;
  ledger: Ledger;
  treasury: Keypair;
}

/**
 * One treasury → wallet transfer of USDC and SOL. The treasury is the fee payer and pays the rent
 * of the wallet's USDC token account. The transaction is signed first and recorded `pending`
 * with its signature before it is sent: if the process dies after the send, the record tells
 * what to look up on the chain, and the same money is never sent twice.
 */
export async function fundWallet(deps: FundingDeps, request: FundingRequest): Promise<Funding> {
  const { db, ledger, treasury } = deps;
  const tx = await buildFundingTransaction(ledger, treasury, request);
  const signature = toBase58(tx.signature!);

  const recorded = await callFunction(
    db,
    "tdk_record_funding",
    {
      p_api_key_id: request.apiKeyId,
      p_reason: request.reason,
      p_usdc_micro: request.usdcMicro,
      p_sol_lamports: request.solLamports,
      p_tx_signature: signature,
      p_recent_blockhash: tx.recentBlockhash!,
    },
    recordResultSchema,
  );
  if (!recorded.ok) throw new Error(`Cannot record funding: ${recorded.code}`);

  try {
    await ledger.sendTransaction(tx);
    return await resolveFunding(db, recorded.funding.id, "confirmed", null);
  } catch (error) {
    if (error instanceof LedgerError && error.outcome === "rejected") {
      return resolveFunding(db, recorded.funding.id, "failed", error.message.slice(0, 500));
    }
    // Outcome unknown: stays pending, to be resolved from the chain by signature.
    return recorded.funding;
  }
}

export function buildFundingTransaction(ledger: Ledger, treasury: Keypair, request: Omit<FundingRequest, "apiKeyId" | "reason">): Promise<Transaction> {
  return buildBatchFundingTransaction(ledger, treasury, [request]);
}

/** Transfers to several wallets in one transaction (the top-up cron batches them). */
export async function buildBatchFundingTransaction(
  ledger: Ledger,
  treasury: Keypair,
  transfers: Omit<FundingRequest, "apiKeyId" | "reason">[],
): Promise<Transaction> {
  const mint = ledger.usdcMint;
  const treasuryAta = getAssociatedTokenAddressSync(mint, treasury.publicKey, true);
  const { blockhash, lastValidBlockHeight } = await ledger.latestBlockhash();
  const tx = new Transaction({ feePayer: treasury.publicKey, blockhash, lastValidBlockHeight });
  for (const transfer of transfers) {
    if (transfer.usdcMicro > 0n) {
      const walletAta = getAssociatedTokenAddressSync(mint, transfer.wallet, true);
      tx.add(
        createAssociatedTokenAccountIdempotentInstruction(treasury.publicKey, walletAta, transfer.wallet, mint),
        createTransferCheckedInstruction(treasuryAta, mint, walletAta, treasury.publicKey, transfer.usdcMicro, USDC_DECIMALS),
      );
    }
    if (transfer.solLamports > 0n) {
      tx.add(SystemProgram.transfer({ fromPubkey: treasury.publicKey, toPubkey: transfer.wallet, lamports: transfer.solLamports }));
    }
  }
  // Two fundings of the same amounts to the same wallet are two payments, with two signatures.
  tx.add(nonceMemo("tdk-funding"));
  tx.sign(treasury);
  return tx;
}

export async function resolveFunding(
  db: Database,
  fundingId: string,
  status: "confirmed" | "failed",
  error: string | null,
): Promise<Funding> {
  const result = await callFunction(db, "tdk_resolve_funding", { p_funding_id: fundingId, p_status: status, p_error: error }, resolveResultSchema);
  if (!result.funding) throw new Error(`Cannot resolve funding ${fundingId}: ${result.code}`);
  return result.funding;
}

/**
 * Resolves pending fundings from the chain, never by sending again: confirmed when the signature
 * landed, failed when it failed or its blockhash expired without it landing. Returns how many changed.
 */
export async function resolvePendingFundings(db: Database, ledger: Ledger, olderThan: Date): Promise<number> {
  const pending = await callFunction(db, "tdk_list_pending_fundings", { p_older_than: olderThan }, z.array(fundingSchema));
  let resolved = 0;
  for (const funding of pending) {
    let status = await ledger.getSignatureStatus(funding.tx_signature);
    if (status === "unknown" && funding.recent_blockhash && !(await ledger.isBlockhashValid(funding.recent_blockhash))) {
      // Expired: one more look in case it landed just before, then it never will.
      status = (await ledger.getSignatureStatus(funding.tx_signature)) === "confirmed" ? "confirmed" : "failed";
    }
    if (status === "unknown") continue;
    await resolveFunding(db, funding.id, status, status === "failed" ? "Transaction did not land" : null);
    resolved += 1;
  }
  return resolved;
}

export async function listFundings(db: Database, apiKeyId: string): Promise<Funding[]> {
  return callFunction(db, "tdk_list_fundings", { p_api_key_id: apiKeyId }, z.array(fundingSchema));
}
