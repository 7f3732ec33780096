import { PublicKey } from "@solana/web3.js";
import { z } from "zod";
import { callFunction } from "@/lib/db";
import { resolvePendingFundings } from "@/lib/solana/funding";
import { sendTopUps, topUpNeed, type TopUpDeps, type TopUpTarget } from "@/lib/solana/topup";

/**
 * The top-up cron: resolves fundings a crash left pending (from the chain, never by sending again),
 * then reads the balances of every active key's wallet in pages, and refills those under the
 * low-water mark up to the target, several wallets per transaction, the treasury paying the fees,
 * within the per-key and treasury-wide daily caps. Keys at a cap are skipped and reported.
 */
export interface TreasuryTopUpDeps extends TopUpDeps {
  lowWaterUsdcMicro: bigint;
  pageSize?: number;
  walletsPerTransaction?: number;
}

export interface TreasuryTopUpSummary {
  resolved_pending: number;
  checked: number;
  below_low_water: number;
  funded: number;
  funded_usdc_micro: number;
  transactions: number;
  failed: number;
  skipped: { key_id: string; code: string }[];
}

const walletPageSchema = z.array(z.object({ key_id: z.string().uuid(), wallet_public_key: z.string() }));

export async function runTreasuryTopUp(deps: TreasuryTopUpDeps): Promise<TreasuryTopUpSummary> {
  const summary: TreasuryTopUpSummary = {
    resolved_pending: await resolvePendingFundings(deps.db, deps.ledger, new Date()),
    checked: 0,
    below_low_water: 0,
    funded: 0,
    funded_usdc_micro: 0,
    transactions: 0,
    failed: 0,
    skipped: [],
  };
  const pageSize = deps.pageSize ?? 100;
  const perTransaction = deps.walletsPerTransaction ?? 4;
  let after: string | null = null;
  for (;;) {
    const page: z.infer<typeof walletPageSchema> = await callFunction(deps.db, "tdk_list_active_wallets", { p_after_id: after, p_limit: pageSize }, walletPageSchema);
    if (page.length === 0) break;
    after = page.at(-1)!.key_id;
    summary.checked += page.length;

    const needs = await Promise.all(
      page.map(async (entry) => {
        const wallet = new PublicKey(entry.wallet_public_key);
        return { id: entry.key_id, wallet, need: await topUpNeed(deps, wallet) };
      }),
    );
    const targets: TopUpTarget[] = needs
      .filter(({ need }) => need.usdc < deps.lowWaterUsdcMicro || need.solLamports > 0n)
      .map(({ id, wallet, need }) => ({ id, wallet, usdcMicro: need.usdcMicro, solLamports: need.solLamports }))
      .filter((target) => target.usdcMicro > 0n || target.solLamports > 0n);
    summary.below_low_water += targets.length;

    for (let i = 0; i < targets.length; i += perTransaction) {
      const result = await sendTopUps(deps, targets.slice(i, i + perTransaction));
      summary.skipped.push(...result.refused.map((r) => ({ key_id: r.id, code: r.code })));
      if (result.fundings.length > 0) summary.transactions += 1;
      for (const funding of result.fundings) {
        if (funding.status === "confirmed") {
          summary.funded += 1;
          summary.funded_usdc_micro += funding.usdc_micro;
        } else if (funding.status === "failed") {
          summary.failed += 1;
        }
      }
    }
    if (page.length < pageSize) break;
  }
  return summary;
}
