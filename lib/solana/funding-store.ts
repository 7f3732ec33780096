import { z } from "zod";
import { callFunction, type Database } from "@/lib/db";
import type { MoneyPolicy } from "@/lib/money/policy";

/** The treasury's and the funding ledger's SQL functions, typed (lib/solana/funding.ts is the path that uses them). */

export const fundingSchema = z.object({
  id: z.string().uuid(),
  api_key_id: z.string().uuid(),
  account_id: z.string().uuid(),
  wallet_public_key: z.string(),
  reason: z.enum(["initial", "topup", "sweep"]),
  usdc_micro: z.number().int().nonnegative(),
  sol_lamports: z.number().int().nonnegative(),
  overhead_lamports: z.number().int().nonnegative(),
  tx_signature: z.string().nullable(),
  recent_blockhash: z.string().nullable(),
  last_valid_block_height: z.number().int().nullable(),
  status: z.enum(["pending", "confirmed", "failed"]),
  error: z.string().nullable(),
  created_at: z.string(),
  resolved_at: z.string().nullable(),
});
export type Funding = z.infer<typeof fundingSchema>;

export const fundingRefusalCodes = [
  "invalid_request",
  "funding_in_flight",
  "not_sweepable",
  "call_in_flight",
  "not_needed",
  "key_inactive",
  "account_suspended",
  "card_required",
  "key_cap_reached",
  "account_cap_reached",
  "treasury_cap_reached",
  "free_allowance_exhausted",
] as const;
export type FundingRefusalCode = (typeof fundingRefusalCodes)[number];
export interface FundingRefusal {
  keyId: string;
  code: FundingRefusalCode;
}

const reservationSchema = z.object({
  fundings: z.array(fundingSchema),
  refused: z.array(z.object({ api_key_id: z.string(), code: z.enum(fundingRefusalCodes) }).loose()),
});
const resolveResultSchema = z.object({ ok: z.boolean(), code: z.string().optional(), funding: fundingSchema.optional() });

/** Checks every cap and fixes the amounts of each funding asked for: `pending`, no signature yet. */
export async function reserveFundings(db: Database, items: Record<string, string>[], policy: MoneyPolicy) {
  const reservation = await callFunction(db, "tdk_reserve_fundings", { p_items: items, p_policy: policy }, reservationSchema);
  return {
    fundings: reservation.fundings,
    refused: reservation.refused.map((refusal): FundingRefusal => ({ keyId: refusal.api_key_id, code: refusal.code })),
  };
}

/** Attaches the signed transaction to its reservations, before it is sent; the count attached (fewer: some expired). */
export async function attachFundingSignature(
  db: Database,
  args: { fundings: { id: string; overheadLamports: bigint }[]; signature: string; recentBlockhash: string; lastValidBlockHeight: number },
): Promise<number> {
  const attached = await callFunction(
    db,
    "tdk_attach_funding_signature",
    {
      p_fundings: args.fundings.map((funding) => ({ id: funding.id, overhead_lamports: funding.overheadLamports.toString() })),
      p_tx_signature: args.signature,
      p_recent_blockhash: args.recentBlockhash,
      p_last_valid_block_height: args.lastValidBlockHeight,
    },
    z.object({ attached: z.number().int() }),
  );
  return attached.attached;
}

export function resolveFundingRow(db: Database, fundingId: string, status: "confirmed" | "failed", error: string | null) {
  return callFunction(db, "tdk_resolve_funding", { p_funding_id: fundingId, p_status: status, p_error: error }, resolveResultSchema);
}

export function listPendingFundings(db: Database, olderThan: Date): Promise<Funding[]> {
  return callFunction(db, "tdk_list_pending_fundings", { p_older_than: olderThan }, z.array(fundingSchema));
}

export function listFundings(db: Database, apiKeyId: string): Promise<Funding[]> {
  return callFunction(db, "tdk_list_fundings", { p_api_key_id: apiKeyId }, z.array(fundingSchema));
}

const treasuryRowSchema = z.object({ public_key: z.string(), secret_encrypted: z.string(), created_at: z.string() }).nullable();

/** The treasury's row: its public key and its secret, encrypted; null until one is created or imported. */
export function getTreasuryRow(db: Database) {
  return callFunction(db, "tdk_get_treasury", {}, treasuryRowSchema);
}

export function insertTreasury(db: Database, publicKey: string, secretEncrypted: string, replace: boolean) {
  return callFunction(
    db,
    "tdk_store_treasury",
    { p_public_key: publicKey, p_secret_encrypted: secretEncrypted, p_replace: replace },
    z.object({ ok: z.boolean(), code: z.string().optional(), public_key: z.string(), replaced: z.boolean().optional() }),
  );
}

/** Replaces the treasury's ciphertext if it is still `old` (compare-and-swap: a concurrent rotation is not overwritten). */
export async function reencryptTreasurySecret(db: Database, oldCiphertext: string, newCiphertext: string): Promise<boolean> {
  return (
    await callFunction(
      db,
      "tdk_reencrypt_treasury_secret",
      { p_old: oldCiphertext, p_new: newCiphertext },
      z.object({ updated: z.boolean() }),
    )
  ).updated;
}
