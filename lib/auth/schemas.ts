import { z } from "zod";

/** An account's plan: the free tier, or one of the two paid ones. */
export const tiers = ["free", "paid", "pro"] as const;
export const tierSchema = z.enum(tiers);
export type Tier = z.infer<typeof tierSchema>;
export const paidTierSchema = z.enum(["paid", "pro"]);
export type PaidTier = z.infer<typeof paidTierSchema>;

export const emailSchema = z
  .string({ error: "Email is required" })
  .trim()
  .toLowerCase()
  .max(254, "Email must be at most 254 characters")
  .pipe(z.email({ error: "Enter a valid email address" }));

/** bcrypt reads at most 72 bytes: a longer password would be silently truncated, so it is refused. */
export const passwordSchema = z
  .string({ error: "Password is required" })
  .min(10, "Password must be at least 10 characters")
  .refine((value) => Buffer.byteLength(value, "utf8") <= 72, "Password must be at most 72 bytes")
  .refine((value) => new Set(value).size >= 5, "Password is too repetitive")
  .refine((value) => /[^a-zA-Z]/.test(value) && /[a-zA-Z]/.test(value), "Password must mix letters with digits or symbols");

export const registerSchema = z.object({ email: emailSchema, password: passwordSchema }).strict();

/** Log-in checks only presence: the rules for new passwords say nothing about existing ones. */
export const loginSchema = z
  .object({
    email: emailSchema,
    password: z.string({ error: "Password is required" }).min(1, "Password is required").max(1024, "Password is too long"),
  })
  .strict();

export const accountSchema = z.object({
  id: z.string().uuid(),
  email: z.string(),
  tier: tierSchema,
  created_at: z.string(),
  ops_this_month: z.number().int().nonnegative().describe("Paid calls this calendar month (UTC)"),
  free_spent_micro: z.number().int().nonnegative().describe("Free tier: agent cost spent this calendar month (UTC), micro-USD"),
  suspended_reason: z.string().nullable().describe("Why the account is suspended (e.g. payment_failed), or null"),
  card_verified: z.boolean().describe("A card was saved through Stripe (needed for the free tier when billing is on)"),
  free_allowance: z
    .boolean()
    .describe("Whether the free tier's monthly allowance applies (false when the card gave it to another account)"),
  role: z.enum(["developer", "admin"]).default("developer").describe("admin: may use the operator console"),
});
export type Account = z.infer<typeof accountSchema>;

export const sessionResponseSchema = z.object({
  session_token: z.string().describe("Send as Authorization: Bearer, or rely on the HttpOnly cookie set with it"),
  expires_at: z.iso.datetime(),
});
/** Sign-up logs in: the account, and its first session (also set as the session cookie). */
export const registeredResponseSchema = sessionResponseSchema.extend({ account: accountSchema });

/** A new password for the logged-in account: the current one proves it is the owner. */
export const changePasswordSchema = z
  .object({ current_password: z.string({ error: "Current password is required" }).min(1).max(1024), new_password: passwordSchema })
  .strict();
export const passwordResetRequestSchema = z.object({ email: emailSchema }).strict();
export const passwordResetSchema = z
  .object({ token: z.string({ error: "The link's token is required" }).min(1).max(200), new_password: passwordSchema })
  .strict();
/** Deleting the account needs its password (a stolen session cookie alone cannot). */
export const deleteAccountSchema = z.object({ password: z.string({ error: "Password is required" }).min(1).max(1024) }).strict();

export const passwordChangedResponseSchema = z.object({ changed: z.literal(true), sessions_revoked: z.number().int() });
export const resetRequestedResponseSchema = z.object({
  requested: z.literal(true).describe("The same answer whether or not an account has this email"),
});
export const passwordResetResponseSchema = z.object({ reset: z.literal(true) });
export const accountDeletedResponseSchema = z.object({
  deleted: z.literal(true),
  keys_revoked: z.number().int(),
  wallets_swept: z.number().int().describe("Wallets emptied back to the treasury now; the sweep cron takes any left (a call in flight)"),
  subscription: z
    .enum(["none", "cancels_at_period_end"])
    .describe("A paid plan stops at the end of its period, billing the usage up to now"),
});
export const logoutResponseSchema = z.object({ revoked: z.boolean() });

export const auditQuerySchema = z
  .object({
    before: z.coerce.number().int().positive().optional().describe("The next page: the id the previous answer's next_before gave"),
    limit: z.coerce.number().int().min(1).max(200).default(50),
  })
  .strict();
