import { PublicKey } from "@solana/web3.js";
import type { Database } from "@/lib/db";
import type { Ledger } from "@/lib/solana/ledger";
import { treasuryPublicKey } from "@/lib/solana/treasury";
import { lamportsToSol, microToUsd } from "@/lib/money/units";

/** Below this share of its configured float, the treasury raises an alert. */
export const LOW_TREASURY_PERCENT = 20n;

export interface TreasuryHealth {
  status: "ok" | "low" | "missing";
  public_key: string | null;
  usdc: string;
  sol: string;
  usdc_micro: number;
  sol_lamports: number;
  low: ("usdc" | "sol")[];
}

export async function treasuryHealth(
  db: Database,
  ledger: Ledger,
  float: { usdcMicro: bigint; solLamports: bigint },
): Promise<TreasuryHealth> {
  const publicKey = await treasuryPublicKey(db);
  if (!publicKey)
    return {
      status: "missing",
      public_key: null,
      usdc: "0.000000",
      sol: "0.000000000",
      usdc_micro: 0,
      sol_lamports: 0,
      low: ["usdc", "sol"],
    };
  const owner = new PublicKey(publicKey);
  const [usdc, sol] = await Promise.all([ledger.getUsdcBalance(owner), ledger.getSolBalance(owner)]);
  const low: TreasuryHealth["low"] = [];
  if (usdc * 100n < float.usdcMicro * LOW_TREASURY_PERCENT) low.push("usdc");
  if (sol * 100n < float.solLamports * LOW_TREASURY_PERCENT) low.push("sol");
  return {
    status: low.length ? "low" : "ok",
    public_key: publicKey,
    usdc: microToUsd(usdc),
    sol: lamportsToSol(sol),
    usdc_micro: Number(usdc),
    sol_lamports: Number(sol),
    low,
  };
}
