import { z } from "zod";
import { usdAmountSchema } from "@/lib/money/units";

export const createKeySchema = z
  .object({
    name: z.string().trim().min(1, "Name must not be empty").max(64, "Name must be at most 64 characters").optional(),
  })
  .strict();

export const keyIdSchema = z.string().uuid("Not a key id");

export const spendPeriods = ["day", "week", "month", "total"] as const;
export type SpendPeriod = (typeof spendPeriods)[number];

/** The most a spend limit may be set to: far above any real budget, far below an overflow. */
export const MAX_SPEND_LIMIT_MICRO = 1_000_000_000_000n;

/**
 * PATCH /api/tdk/keys/{id}: a spend limit for the key (at the developer price), per UTC calendar
 * period or in total; `spend_limit_usd: null` clears it.
 */
export const updateKeySchema = z
  .object({
    spend_limit_usd: usdAmountSchema("spend_limit_usd", MAX_SPEND_LIMIT_MICRO).nullable(),
    spend_limit_period: z.enum(spendPeriods, { error: `spend_limit_period must be one of ${spendPeriods.join(", ")}` }).optional(),
  })
  .strict()
  .superRefine((value, context) => {
    if (value.spend_limit_usd !== null && value.spend_limit_period === undefined) {
      context.addIssue({ code: "custom", path: ["spend_limit_period"], message: "spend_limit_period is required with a spend limit" });
    }
  });
export type UpdateKey = z.infer<typeof updateKeySchema>;

/** A key row as the SQL functions return it (no hash, no ciphertext: those never leave the database). */
export const keyRowSchema = z.object({
  id: z.string().uuid(),
  name: z.string(),
  mode: z.enum(["live", "test"]),
  prefix: z.string(),
  tier: z.enum(["free", "paid", "pro"]),
  status: z.enum(["active", "suspended", "revoked"]),
  suspended_reason: z.string().nullable(),
  wallet_public_key: z.string(),
  wallet_usdc_micro: z.number().int().nonnegative(),
  wallet_sol_lamports: z.number().int().nonnegative(),
  wallet_balances_at: z.string().nullable(),
  spend_limit_micro: z.number().int().positive().nullable(),
  spend_limit_period: z.enum(spendPeriods).nullable(),
  spent_micro: z.number().int().nonnegative().nullable(),
  spend_resets_at: z.string().nullable(),
  swept_at: z.string().nullable(),
  created_at: z.string(),
  last_used_at: z.string().nullable(),
  revoked_at: z.string().nullable(),
});
export type KeyRow = z.infer<typeof keyRowSchema>;

export const verifiedKeySchema = z.object({
  key_id: z.string().uuid(),
  account_id: z.string().uuid(),
  name: z.string(),
  mode: z.enum(["live", "test"]),
  prefix: z.string(),
  status: z.enum(["active", "suspended", "revoked"]),
  suspended_reason: z.string().nullable(),
  account_suspended_reason: z.string().nullable(),
  tier: z.enum(["free", "paid", "pro"]),
  wallet_public_key: z.string(),
});
export type VerifiedKey = z.infer<typeof verifiedKeySchema>;
