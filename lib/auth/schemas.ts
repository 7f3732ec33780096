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
});
export type Account = z.infer<typeof accountSchema>;

export const accountResponseSchema = z.object({ account: accountSchema });
export const sessionResponseSchema = z.object({ session_token: z.string(), expires_at: z.iso.datetime() });
export const logoutResponseSchema = z.object({ revoked: z.boolean() });
