import { PublicKey } from "@solana/web3.js";
import type { KeyRing } from "@/lib/crypto/secret-box";
import { openKeypair } from "@/lib/crypto/wallet-keys";
import { getWalletSecret } from "@/lib/keys/key-store";
import { markWalletsSwept } from "./ops-store";
import { resolvePendingFundings, sweepWallets, type FundingDeps, type SweepTarget } from "@/lib/solana/funding";
import { forEachWalletPage, type WalletPage } from "./wallet-pages";

/**
 * The sweep cron: every revoked key's wallet goes back to the treasury — its USDC moved back, its
 * USDC account closed (the rent comes back), its SOL returned — through the one funding path,
 * recorded as fundings with reason `sweep`. A key with a call or a funding still unresolved waits
 * for a later run; a wallet holding nothing is marked swept without a transaction.
 */
export interface WalletSweepDeps extends FundingDeps {
  ring: KeyRing;
  pageSize?: number;
  walletsPerTransaction?: number;
}

export interface WalletSweepSummary {
  resolved_pending: number;
  checked: number;
  swept: number;
  empty: number;
  swept_usdc_micro: number;
  swept_sol_lamports: number;
  transactions: number;
  failed: number;
  skipped: { key_id: string; code: string }[];
}

const emptySummary = (resolvedPending: number): WalletSweepSummary => ({
  resolved_pending: resolvedPending,
  checked: 0,
  swept: 0,
  empty: 0,
  swept_usdc_micro: 0,
  swept_sol_lamports: 0,
  transactions: 0,
  failed: 0,
  skipped: [],
});

export async function runWalletSweep(deps: WalletSweepDeps): Promise<WalletSweepSummary> {
  const summary = emptySummary(await resolvePendingFundings(deps.db, deps.ledger, new Date()));
  summary.checked = await forEachWalletPage(deps.db, "to_sweep", deps.pageSize ?? 100, (page) => sweepPage(deps, page, summary));
  return summary;
}

/**
 * Sweeps the wallets of one account's revoked keys now (account deletion), through the same steps
 * as the cron. A wallet refused for now (a call or funding in flight) is left to the cron.
 */
export async function sweepAccountWallets(deps: WalletSweepDeps, wallets: WalletPage): Promise<WalletSweepSummary> {
  const summary = emptySummary(0);
  summary.checked = wallets.length;
  if (wallets.length > 0) await sweepPage(deps, wallets, summary);
  return summary;
}

/** One page of revoked keys' wallets: one batched balance read, the empty ones marked, the rest swept a few per transaction. */
async function sweepPage(deps: WalletSweepDeps, page: WalletPage, summary: WalletSweepSummary): Promise<void> {
  const perTransaction = deps.walletsPerTransaction ?? 4;
  const targets: SweepTarget[] = [];
  // One batched read for the page (on RPC, 2 getMultipleAccounts requests for 100 wallets).
  const balances = await deps.ledger.getWalletBalances(page.map((entry) => new PublicKey(entry.wallet_public_key)));
  const empty: string[] = [];
  for (const [i, entry] of page.entries()) {
    const { usdc, solLamports } = balances[i]!;
    if (!usdc.exists && solLamports === 0n) {
      empty.push(entry.key_id);
      continue;
    }
    // Decrypted only to sign its own sweep; checked against the stored public key first.
    const secret = await getWalletSecret(deps.db, entry.key_id);
    targets.push({ keyId: entry.key_id, wallet: openKeypair(deps.ring, secret.secret_encrypted, secret.public_key), usdc, solLamports });
  }
  // Wallets read empty are marked swept together: one statement a page, not one a wallet.
  if (empty.length > 0) {
    summary.empty += await markWalletsSwept(deps.db, empty);
  }

  for (let i = 0; i < targets.length; i += perTransaction) {
    const result = await sweepWallets(deps, targets.slice(i, i + perTransaction));
    summary.skipped.push(...result.refused.map((r) => ({ key_id: r.keyId, code: r.code })));
    if (result.fundings.length > 0) summary.transactions += 1;
    for (const funding of result.fundings) {
      if (funding.status === "confirmed") {
        summary.swept += 1;
        summary.swept_usdc_micro += funding.usdc_micro;
        summary.swept_sol_lamports += funding.sol_lamports;
      } else if (funding.status === "failed") {
        summary.failed += 1;
      }
    }
  }
}
