import type { AppContext } from "@/lib/context";
import { loadTreasury } from "@/lib/solana/treasury";
import type { CallDeps } from "./paid-call";

/** The paid call's dependencies from the app context; the treasury is decrypted only for a top-up. */
export function callDeps(app: AppContext): CallDeps {
  return {
    db: app.db,
    ledger: app.ledger,
    ring: app.ring,
    agents: app.agents,
    pricing: app.env.pricing,
    topUp: async () => {
      const treasury = await loadTreasury(app.db, app.ring);
      if (!treasury) return null;
      return {
        db: app.db,
        ledger: app.ledger,
        treasury,
        targetUsdcMicro: app.env.topup.targetUsdcMicro,
        solTarget: app.env.funding.initialSolLamports,
        keyDailyCapMicro: app.env.topup.keyDailyCapMicro,
        totalDailyCapMicro: app.env.topup.totalDailyCapMicro,
      };
    },
  };
}
