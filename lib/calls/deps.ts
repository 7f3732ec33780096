import { agentTimeoutMs } from "@/lib/agents/protocol";
import type { AppContext } from "@/lib/context";
import { fundingDeps } from "@/lib/money/funding-deps";
import { moneyPolicy } from "@/lib/money/policy";
import type { CallDeps } from "./paid-call";

/** The paid call's dependencies from the app context; the treasury is decrypted only for a top-up. */
export function callDeps(app: AppContext): CallDeps {
  const { agentCalls } = app.env;
  return {
    db: app.db,
    ledger: app.ledger,
    ring: app.ring,
    agents: app.agents,
    pricing: app.env.pricing,
    policy: moneyPolicy(app.env),
    maxAgentPriceMicro: app.env.limits.maxAgentPriceMicro,
    maxPriorityFeeLamports: app.env.limits.maxPriorityFeeLamports,
    marketplaceLimit:
      agentCalls.walletCallsPerMinute === null
        ? null
        : { limiter: app.limiter, policy: { name: "marketplace:wallet", limit: agentCalls.walletCallsPerMinute, windowMs: 60_000 } },
    callTimeoutMs: (agent) => agentTimeoutMs(agent) + agentCalls.callMarginMs,
    confirmWaitMs: agentCalls.confirmWaitMs,
    topUp: async () => {
      const funding = await fundingDeps(app);
      if (!funding) return null;
      return { funding, targets: { usdcMicro: app.env.topup.targetUsdcMicro, solLamports: app.env.funding.initialSolLamports } };
    },
  };
}
