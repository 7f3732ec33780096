import type { Amounts, Env, MoneyLimits } from "@/lib/env";

/**
 * The limits that bound what the gateway spends without billing it, in the one shape the SQL
 * functions read them (tdk_reserve_call, tdk_settle_call, tdk_reserve_fundings: see the money-safety
 * migration). Built once from the configuration; amounts travel as decimal strings (bigint safe).
 */
export interface MoneyPolicy {
  [key: string]: unknown;
  free_monthly_quota: number;
  free_allowance_micro: string;
  /** With Stripe on, a free account is funded and served only once it verified a card. */
  require_card: boolean;
  agent_failed_daily_cap_micro: { paid: string; pro: string };
  breaker: { failures: number; window_seconds: number; cooldown_seconds: number };
  treasury_daily: { usdc_micro: string; sol_lamports: string };
  tiers: Record<
    "free" | "paid" | "pro",
    { key_daily: { usdc_micro: string; sol_lamports: string }; account_daily: { usdc_micro: string; sol_lamports: string } }
  >;
}

const amounts = (value: Amounts) => ({ usdc_micro: value.usdcMicro.toString(), sol_lamports: value.solLamports.toString() });

export function buildMoneyPolicy(limits: MoneyLimits, options: { freeMonthlyQuota: number; requireCard: boolean }): MoneyPolicy {
  const { funding } = limits;
  const tier = (name: "free" | "paid" | "pro") => ({
    key_daily: amounts(funding.tiers[name].keyDaily),
    account_daily: amounts(funding.tiers[name].accountDaily),
  });
  return {
    free_monthly_quota: options.freeMonthlyQuota,
    free_allowance_micro: limits.freeMonthlyAllowanceMicro.toString(),
    require_card: options.requireCard,
    agent_failed_daily_cap_micro: {
      paid: limits.agentFailedDailyCapMicro.paid.toString(),
      pro: limits.agentFailedDailyCapMicro.pro.toString(),
    },
    breaker: {
      failures: limits.breaker.failures,
      window_seconds: limits.breaker.windowSeconds,
      cooldown_seconds: limits.breaker.cooldownSeconds,
    },
    treasury_daily: amounts(funding.treasuryDaily),
    tiers: { free: tier("free"), paid: tier("paid"), pro: tier("pro") },
  };
}

const policies = new WeakMap<Env, MoneyPolicy>();

/** The policy of this configuration (built once per parsed env): a card is required exactly when Stripe is configured. */
export function moneyPolicy(env: Env): MoneyPolicy {
  let policy = policies.get(env);
  if (!policy) {
    policy = buildMoneyPolicy(env.limits, { freeMonthlyQuota: env.pricing.freeMonthlyQuota, requireCard: env.stripe !== null });
    policies.set(env, policy);
  }
  return policy;
}
