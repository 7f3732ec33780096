import { z } from "zod";
import { accountSchema, tierSchema } from "@/lib/auth/schemas";
import { callFunction, type Database } from "@/lib/db";
import { okResult, refusedResult } from "@/lib/db/results";
import { accountOverridesSchema, keyRowSchema } from "@/lib/keys/schemas";

/** The operator console's SQL functions, typed. Each action names its operator, who the audit log records. */

export const accountMatchSchema = z.object({
  id: z.string().uuid(),
  email: z.string(),
  tier: tierSchema,
  role: z.enum(["developer", "admin"]),
  suspended_reason: z.string().nullable(),
  deleted: z.boolean(),
  created_at: z.string(),
});
export type AccountMatch = z.infer<typeof accountMatchSchema>;

/** Accounts whose email contains the query, or whose id or Stripe customer it is; newest first. */
export function searchAccounts(db: Database, query: string, limit = 50): Promise<AccountMatch[]> {
  return callFunction(db, "tdk_admin_search_accounts", { p_query: query, p_limit: limit }, z.array(accountMatchSchema));
}

export const adminAccountSchema = z.object({
  account: accountSchema,
  overrides: accountOverridesSchema,
  deleted_at: z.string().nullable(),
  suspended_at: z.string().nullable(),
  stripe_customer_id: z.string().nullable(),
  stripe_subscription_id: z.string().nullable(),
  subscription_status: z.string().nullable(),
  keys: z.array(keyRowSchema),
  fundings: z.array(
    z.object({
      id: z.string(),
      reason: z.string(),
      status: z.string(),
      usdc_micro: z.number().int(),
      sol_lamports: z.number().int(),
      tx_signature: z.string().nullable(),
      created_at: z.string(),
    }),
  ),
  flagged_calls: z.number().int(),
  flagged_micro: z.number().int(),
});
export type AdminAccount = z.infer<typeof adminAccountSchema>;

export function adminAccount(db: Database, accountId: string): Promise<AdminAccount | null> {
  return callFunction(db, "tdk_admin_account", { p_account_id: accountId }, adminAccountSchema.nullable());
}

const done = z.union([okResult({}), refusedResult("account_not_found"), refusedResult("not_found")]);

export function setRole(db: Database, actor: string, email: string, role: "developer" | "admin") {
  return callFunction(
    db,
    "tdk_admin_set_role",
    { p_actor: actor, p_email: email, p_role: role },
    z.union([okResult({ account_id: z.string(), role: z.string() }), refusedResult("account_not_found")]),
  );
}

export function setSuspension(db: Database, actor: string, accountId: string, reason: string | null) {
  return callFunction(db, "tdk_admin_set_suspension", { p_actor: actor, p_account_id: accountId, p_reason: reason }, done);
}

export function setTier(db: Database, actor: string, accountId: string, tier: "free" | "paid" | "pro") {
  return callFunction(db, "tdk_admin_set_tier", { p_actor: actor, p_account_id: accountId, p_tier: tier }, done);
}

export function resolveFlagged(db: Database, actor: string, accountId: string, retry: boolean) {
  return callFunction(
    db,
    "tdk_admin_resolve_flagged",
    { p_actor: actor, p_account_id: accountId, p_retry: retry },
    okResult({ calls: z.number().int(), micro: z.number().int() }),
  );
}

export function resetBreaker(db: Database, actor: string, agentId: string) {
  return callFunction(db, "tdk_admin_reset_breaker", { p_actor: actor, p_agent_id: agentId }, done);
}

export function openBreakers(db: Database) {
  return callFunction(
    db,
    "tdk_admin_breakers",
    {},
    z.array(z.object({ agent_id: z.string(), open_until: z.string().nullable(), trips: z.number().int() })),
  );
}

/** Sets (or, with nulls, clears) the account's overrides of the call path's limits. */
export function setOverrides(
  db: Database,
  actor: string,
  accountId: string,
  overrides: { quota: number | null; freeAllowanceMicro: bigint | null; agentFailedCapMicro: bigint | null },
) {
  return callFunction(
    db,
    "tdk_admin_set_overrides",
    {
      p_actor: actor,
      p_account_id: accountId,
      p_quota: overrides.quota,
      p_free_allowance_micro: overrides.freeAllowanceMicro,
      p_agent_failed_cap_micro: overrides.agentFailedCapMicro,
    },
    z.union([okResult({ overrides: accountOverridesSchema }), refusedResult("account_not_found")]),
  );
}
