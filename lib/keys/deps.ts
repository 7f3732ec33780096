import type { AppContext } from "@/lib/context";
import { loadTreasury } from "@/lib/solana/treasury";
import type { KeyDeps } from "./keys";

/** What key creation needs, from the app context; the treasury is decrypted only now. */
export async function keyDeps(app: AppContext): Promise<KeyDeps> {
  return {
    db: app.db,
    ledger: app.ledger,
    ring: app.ring,
    treasury: await loadTreasury(app.db, app.ring),
    config: {
      mode: app.env.keys.mode,
      maxPerAccount: app.env.keys.maxPerAccount,
      initialUsdcMicro: app.env.funding.initialUsdcMicro,
      initialSolLamports: app.env.funding.initialSolLamports,
    },
  };
}
