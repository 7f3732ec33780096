import { PublicKey } from "@solana/web3.js";
import { fundWallets, resolvePendingFundings, walletNeed, type FundingDeps, type FundingTarget } from "@/lib/solana/funding";
import { forEachWalletPage } from "./wallet-pages";

/**
 * The top-up cron: resolves fundings a crash left pending (from the chain, never by sending again),
 * then reads the balances of every active key's wallet in pages (one batched chain read a page), and refills those under the
 * low-water mark up to the target, several wallets per transaction, the treasury paying the fees,
 * through the one funding path and its caps. Keys the caps refuse are skipped and reported.
 */
export interface TreasuryTopUpDeps extends FundingDeps {
  lowWaterUsdcMicro: bigint;
  targets: { usdcMicro: bigint; solLamports: bigint };
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
  const perTransaction = deps.walletsPerTransaction ?? 4;
  summary.checked = await forEachWalletPage(deps.db, "active", deps.pageSize ?? 100, async (page) => {
    const wallets = page.map((entry) => new PublicKey(entry.wallet_public_key));
    // One batched read for the page (on RPC, 2 getMultipleAccounts requests for 100 wallets).
    const balances = await deps.ledger.getWalletBalances(wallets);
    const needs = page.map((entry, i) => ({ id: entry.key_id, wallet: wallets[i]!, need: walletNeed(balances[i]!, deps.targets) }));
    const targets: FundingTarget[] = needs
      .filter(({ need }) => need.usdc.amount < deps.lowWaterUsdcMicro || need.solLamports > 0n)
      .filter(({ need }) => need.usdcMicro > 0n || need.solLamports > 0n)
      .map(({ id, wallet, need }) => ({
        keyId: id,
        wallet,
        reason: "topup",
        usdcMicro: need.usdcMicro,
        solLamports: need.solLamports,
        usdcAccountExists: need.usdc.exists,
      }));
    summary.below_low_water += targets.length;

    for (let i = 0; i < targets.length; i += perTransaction) {
      const result = await fundWallets(deps, targets.slice(i, i + perTransaction));
      summary.skipped.push(...result.refused.map((r) => ({ key_id: r.keyId, code: r.code })));
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
  });
  return summary;
}
