import type { AppContext } from "@/lib/context";
import type { FundingDeps } from "@/lib/solana/funding";
import { loadTreasury } from "@/lib/solana/treasury";
import { moneyPolicy } from "./policy";

/** What the funding path needs from the app context; null while no treasury is set up. The treasury is decrypted only now. */
export async function fundingDeps(app: AppContext): Promise<FundingDeps | null> {
  const treasury = await loadTreasury(app.db, app.ring);
  return treasury ? { db: app.db, ledger: app.ledger, treasury, policy: moneyPolicy(app.env) } : null;
}
