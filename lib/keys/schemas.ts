import { z } from "zod";

export const createKeySchema = z
  .object({
    name: z.string().trim().min(1, "Name must not be empty").max(64, "Name must be at most 64 characters").optional(),
  })
  .strict();

export const keyIdSchema = z.string().uuid("Not a key id");

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
  tier: z.enum(["free", "paid", "pro"]),
  wallet_public_key: z.string(),
});
export type VerifiedKey = z.infer<typeof verifiedKeySchema>;
