import type { Keypair, PublicKey } from "@solana/web3.js";
import { z } from "zod";
import { callFunction, type Database } from "@/lib/db";
import { toBase58 } from "./base58";
import { buildBatchFundingTransaction, fundingSchema, resolveFunding, type Funding } from "./funding";
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

export type RefusalCode = "key_inactive" | "topup_in_flight" | "key_cap_reached" | "treasury_cap_reached";

export type TopUpResult = { ok: true; funding: Funding } | { ok: false; code: "not_needed" | "send_failed" | RefusalCode };

export interface TopUpTarget {
  id: string;
  wallet: PublicKey;
  usdcMicro: bigint;
  solLamports: bigint;
}

const recordSchema = z.union([
  z.object({ ok: z.literal(true), fundings: z.array(fundingSchema) }),
  z.object({
    ok: z.literal(false),
    refused: z.array(z.object({ api_key_id: z.string(), code: z.enum(["key_inactive", "topup_in_flight", "key_cap_reached", "treasury_cap_reached"]) })),
  }),
]);

/** What a wallet needs to get back to the targets, from its balances on the chain. */
export async function topUpNeed(deps: Pick<TopUpDeps, "ledger" | "targetUsdcMicro" | "solTarget">, wallet: PublicKey) {
  const [usdc, sol] = await Promise.all([deps.ledger.getUsdcBalance(wallet), deps.ledger.getSolBalance(wallet)]);
  return {
    usdc,
    sol,
    usdcMicro: usdc < deps.targetUsdcMicro ? deps.targetUsdcMicro - usdc : 0n,
    solLamports: sol < deps.solTarget / 2n ? deps.solTarget - sol : 0n,
  };
}

/**
 * Funds several wallets in one transaction, within the caps. The fundings are recorded (pending,
 * with the transaction's signature) before it is sent; keys the caps refuse are left out and the
 * transaction rebuilt without them. Returns the fundings sent and the refusals.
 */
export async function sendTopUps(deps: TopUpDeps, targets: TopUpTarget[]) {
  let remaining = targets;
  const refused: { id: string; code: RefusalCode }[] = [];
  while (remaining.length > 0) {
    const tx = await buildBatchFundingTransaction(deps.ledger, deps.treasury, remaining.map((t) => ({ wallet: t.wallet, usdcMicro: t.usdcMicro, solLamports: t.solLamports })));
    const recorded = await callFunction(
      deps.db,
      "tdk_record_topups",
      {
        p_items: remaining.map((t) => ({ api_key_id: t.id, usdc_micro: t.usdcMicro.toString(), sol_lamports: t.solLamports.toString() })),
        p_tx_signature: toBase58(tx.signature!),
        p_recent_blockhash: tx.recentBlockhash!,
        p_key_daily_cap_micro: deps.keyDailyCapMicro,
        p_total_daily_cap_micro: deps.totalDailyCapMicro,
      },
      recordSchema,
    );
    if (!recorded.ok) {
      const out = new Set(recorded.refused.map((r) => r.api_key_id));
      refused.push(...recorded.refused.map((r) => ({ id: r.api_key_id, code: r.code })));
      remaining = remaining.filter((t) => !out.has(t.id));
      continue;
    }
    try {
      await deps.ledger.sendTransaction(tx);
      const fundings = await Promise.all(recorded.fundings.map((f) => resolveFunding(deps.db, f.id, "confirmed", null)));
      return { fundings, refused, error: null };
    } catch (error) {
      if (error instanceof LedgerError && error.outcome === "rejected") {
        const message = error.message.slice(0, 500);
        const fundings = await Promise.all(recorded.fundings.map((f) => resolveFunding(deps.db, f.id, "failed", message)));
        return { fundings, refused, error: message };
      }
      // Unknown outcome: the fundings stay pending and are resolved from the chain later.
      return { fundings: recorded.fundings, refused, error: (error as Error).message };
    }
  }
  return { fundings: [] as Funding[], refused, error: null };
}

/** Refills one key's wallet (the call path, when it cannot cover a call). */
export async function topUpWallet(deps: TopUpDeps, key: { id: string; wallet: PublicKey }): Promise<TopUpResult> {
  const need = await topUpNeed(deps, key.wallet);
  if (need.usdcMicro === 0n && need.solLamports === 0n) return { ok: false, code: "not_needed" };
  const result = await sendTopUps(deps, [{ id: key.id, wallet: key.wallet, usdcMicro: need.usdcMicro, solLamports: need.solLamports }]);
  if (result.refused[0]) return { ok: false, code: result.refused[0].code };
  const funding = result.fundings[0];
  return funding?.status === "confirmed" ? { ok: true, funding } : { ok: false, code: "send_failed" };
}
