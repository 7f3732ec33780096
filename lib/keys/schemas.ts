import { z } from "zod";
import { tierSchema } from "@/lib/auth/schemas";
import { usdAmountSchema, usdStringSchema } from "@/lib/money/units";

export const createKeySchema = z
  .object({
    name: z.string().trim().min(1, "Name must not be empty").max(64, "Name must be at most 64 characters").optional(),
  })
  .strict();

export const keyModeSchema = z.enum(["live", "test"]);
export const keyStatusSchema = z.enum(["active", "suspended", "revoked"]);

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
  mode: keyModeSchema,
  prefix: z.string(),
  tier: tierSchema,
  status: keyStatusSchema,
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

export const accountOverridesSchema = z.object({
  free_monthly_quota: z.number().int().nonnegative().optional(),
  free_allowance_micro: z.string().regex(/^\d+$/).optional(),
  agent_failed_daily_cap_micro: z.string().regex(/^\d+$/).optional(),
});

export const verifiedKeySchema = z.object({
  key_id: z.string().uuid(),
  account_id: z.string().uuid(),
  name: z.string(),
  mode: keyModeSchema,
  prefix: z.string(),
  status: keyStatusSchema,
  suspended_reason: z.string().nullable(),
  account_suspended_reason: z.string().nullable(),
  tier: tierSchema,
  wallet_public_key: z.string(),
  // Not the account's operator overrides, which tdk_verify_api_key also answers: a verification the
  // call route reuses may be seconds old, so the reservation reads them from the account's row.
});
/** A key as its verification found it, and the hash of the credential that was presented for it. */
export type VerifiedKey = z.infer<typeof verifiedKeySchema> & {
  /** The current hash, or the previous one in its grace period: the reservation checks it is still the key's. */
  key_hash: string;
};

/** A key as its owner sees it: balances in base units and as decimal strings (never floats). */
export const keyViewSchema = z.object({
  id: z.string().uuid(),
  name: z.string(),
  prefix: z.string().describe("The key's first characters, to recognise it"),
  mode: keyModeSchema,
  tier: tierSchema,
  status: keyStatusSchema,
  suspended_reason: z.string().nullable(),
  wallet: z.object({
    public_key: z.string().describe("The key's dedicated Solana wallet"),
    usdc: z.string(),
    sol: z.string(),
    usdc_micro: z.number().int(),
    sol_lamports: z.number().int(),
    balances_at: z.string().nullable(),
  }),
  spend_limit: z
    .object({
      usd: usdStringSchema,
      period: z.enum(["day", "week", "month", "total"]).describe("UTC calendar day, week (from Monday) or month; or the key's lifetime"),
      spent_usd: usdStringSchema.describe("Spent in the current period, at your price (calls in flight included)"),
      remaining_usd: usdStringSchema,
      resets_at: z.string().nullable().describe("When the period's spend starts again from zero (null for total)"),
    })
    .nullable()
    .describe("Your own bound on what the key may cost; null when none is set"),
  created_at: z.string(),
  last_used_at: z.string().nullable(),
  revoked_at: z.string().nullable(),
});
export type KeyView = z.infer<typeof keyViewSchema>;

/** The wallet's first funding from the treasury, as far as the caps allow. */
export const initialFundingSchema = z
  .union([
    z.object({
      status: z.enum(["pending", "confirmed", "failed"]),
      tx_signature: z.string().nullable(),
      usdc: z.string(),
      sol: z.string(),
    }),
    z.object({
      status: z.literal("not_funded"),
      reason: z.string().describe("Why nothing was sent yet: card_required, account_cap_reached, ..."),
    }),
  ])
  .nullable()
  .describe("The wallet's first funding from the treasury, as far as the caps allow");

export const createdKeyResponseSchema = z.object({
  api_key: z.string().describe("The full key: shown only in this answer"),
  key: keyViewSchema,
  funding: initialFundingSchema,
});
export const keyListResponseSchema = z.object({ keys: z.array(keyViewSchema) });
export const keyResponseSchema = z.object({ key: keyViewSchema });

/** POST /api/tdk/keys/{id}/rotate: how long the old secret keeps working (0: not at all). */
export const rotateKeySchema = z
  .object({
    grace_period_hours: z
      .number({ error: "grace_period_hours must be a number of hours" })
      .int("grace_period_hours must be a whole number of hours")
      .min(0, "grace_period_hours must be 0 or more")
      .max(168, "grace_period_hours must be at most 168 (a week)")
      .default(24),
  })
  .strict();

export const rotatedKeyResponseSchema = z.object({
  api_key: z.string().describe("The key's new secret: shown only in this answer"),
  key: keyViewSchema,
  previous_secret_expires_at: z.string().describe("Until then the old secret works too; after it, it is refused as revoked"),
});

/** GET /api/tdk/v1/me: what a program holding the key can know of it and its limits. */
export const meResponseSchema = z.object({
  key: keyViewSchema,
  quota: z.object({
    calls_this_month: z.number().int(),
    monthly_calls_limit: z.number().int().nullable().describe("The free tier's monthly calls; null on paid tiers"),
    free_allowance_usd: usdStringSchema.nullable().describe("The free tier's agent cost a month (null on paid tiers)"),
    free_spent_usd: usdStringSchema.nullable(),
  }),
  rate_limits: z.object({
    requests_per_minute: z.number().int().describe("This key's requests a minute (its tier's)"),
    marketplace_calls_per_wallet_per_minute: z.number().int().nullable().describe("The marketplace's own limit per wallet; null: none"),
  }),
});
