import type { AppContext } from "@/lib/context";
import { fundingDeps } from "@/lib/money/funding-deps";
import { moneyPolicy } from "@/lib/money/policy";
import type { CallDeps } from "./paid-call";

/** The paid call's dependencies from the app context; the treasury is decrypted only for a top-up. */
export function callDeps(app: AppContext): CallDeps {
  return {
    db: app.db,
    ledger: app.ledger,
    ring: app.ring,
    agents: app.agents,
    pricing: app.env.pricing,
    policy: moneyPolicy(app.env),
    maxAgentPriceMicro: app.env.limits.maxAgentPriceMicro,
    topUp: async () => {
      const funding = await fundingDeps(app);
      if (!funding) return null;
      return { funding, targets: { usdcMicro: app.env.topup.targetUsdcMicro, solLamports: app.env.funding.initialSolLamports } };
    },
  };
}
