import type { Keypair, PublicKey } from "@solana/web3.js";
import { z } from "zod";
import { callFunction, type Database } from "@/lib/db";
import { toBase58 } from "./base58";
import { buildFundingTransaction, fundingSchema, resolveFunding, type Funding } from "./funding";
import { LedgerError, type Ledger } from "./ledger";

export interface TopUpDeps {
  db: Database;
  ledger: Ledger;
  treasury: Keypair;
  /** Refill USDC up to this; refill SOL to `solTarget` when under half of it. */
  targetUsdcMicro: bigint;
  solTarget: bigint;
  keyDailyCapMicro: bigint;
  totalDailyCapMicro: bigint;
}

export type TopUpResult =
  | { ok: true; funding: Funding }
  | { ok: false; code: "not_needed" | "key_inactive" | "topup_in_flight" | "key_cap_reached" | "treasury_cap_reached" | "send_failed" };

const recordSchema = z.union([
  z.object({ ok: z.literal(true), funding: fundingSchema }),
  z.object({
    ok: z.literal(false),
    code: z.enum(["key_inactive", "topup_in_flight", "key_cap_reached", "treasury_cap_reached"]),
  }).passthrough(),
]);

/**
 * Refills one key's wallet from the treasury, from its balances on the chain, within the caps
 * (checked and recorded atomically in the database before anything is sent).
 */
export async function topUpWallet(deps: TopUpDeps, key: { id: string; wallet: PublicKey }): Promise<TopUpResult> {
  const [usdc, sol] = await Promise.all([deps.ledger.getUsdcBalance(key.wallet), deps.ledger.getSolBalance(key.wallet)]);
  const usdcMicro = usdc < deps.targetUsdcMicro ? deps.targetUsdcMicro - usdc : 0n;
  const solLamports = sol < deps.solTarget / 2n ? deps.solTarget - sol : 0n;
  if (usdcMicro === 0n && solLamports === 0n) return { ok: false, code: "not_needed" };

  const request = { apiKeyId: key.id, wallet: key.wallet, usdcMicro, solLamports, reason: "topup" as const };
  const tx = await buildFundingTransaction(deps.ledger, deps.treasury, request);
  const recorded = await callFunction(
    deps.db,
    "tdk_record_topup",
    {
      p_api_key_id: key.id,
      p_usdc_micro: usdcMicro,
      p_sol_lamports: solLamports,
      p_tx_signature: toBase58(tx.signature!),
      p_key_daily_cap_micro: deps.keyDailyCapMicro,
      p_total_daily_cap_micro: deps.totalDailyCapMicro,
    },
    recordSchema,
  );
  if (!recorded.ok) return { ok: false, code: recorded.code };
  try {
    await deps.ledger.sendTransaction(tx);
    return { ok: true, funding: await resolveFunding(deps.db, recorded.funding.id, "confirmed", null) };
  } catch (error) {
    if (error instanceof LedgerError && error.outcome === "rejected") {
      await resolveFunding(deps.db, recorded.funding.id, "failed", error.message.slice(0, 500));
    }
    return { ok: false, code: "send_failed" };
  }
}
