import { z } from "zod";
import { callFunction, type Database } from "@/lib/db";
import { okResult, refusedResult } from "@/lib/db/results";
import { accountSchema, type Account } from "./schemas";

/** The accounts' and sessions' SQL functions, typed. Only hashes reach them: never a password or a token. */

export function insertAccount(db: Database, email: string, passwordHash: string) {
  return callFunction(
    db,
    "tdk_register_account",
    { p_email: email, p_password_hash: passwordHash },
    z.union([okResult({ account: accountSchema }), refusedResult("email_taken")]),
  );
}

export function getLoginAccount(db: Database, email: string) {
  return callFunction(
    db,
    "tdk_get_login_account",
    { p_email: email },
    z.object({ id: z.string().uuid(), password_hash: z.string() }).nullable(),
  );
}

/** Monthly call counters back to zero at the UTC month boundary (idempotent: a second run the same month resets nothing). */
export function resetMonthlyCounters(db: Database): Promise<{ month: string; accounts_reset: number }> {
  return callFunction(db, "tdk_reset_monthly_counters", {}, z.object({ month: z.string(), accounts_reset: z.number().int() }));
}

export async function insertSession(db: Database, accountId: string, tokenHash: string, expiresAt: Date): Promise<void> {
  await callFunction(
    db,
    "tdk_create_session",
    { p_account_id: accountId, p_token_hash: tokenHash, p_expires_at: expiresAt },
    z.object({ id: z.string().uuid(), expires_at: z.string() }),
  );
}

const sessionSchema = z.object({
  id: z.string().uuid(),
  created_at: z.string().optional(),
  expires_at: z.string(),
  account: accountSchema,
});
export type Session = { id: string; created_at?: string; expires_at: string; account: Account };
// Read on every signed-in request: built once (zod 4 builds a schema's checks on its first parse).
const sessionOrNone = sessionSchema.nullable();
const accountOrNone = accountSchema.nullable();

/** The live session with this token hash (not expired, not revoked), with its account. */
export function getSessionByHash(db: Database, tokenHash: string): Promise<Session | null> {
  return callFunction(db, "tdk_get_session", { p_token_hash: tokenHash }, sessionOrNone);
}

export async function revokeSessionByHash(db: Database, tokenHash: string): Promise<boolean> {
  return (await callFunction(db, "tdk_revoke_session", { p_token_hash: tokenHash }, z.object({ revoked: z.boolean() }))).revoked;
}

/** Sets an account's tier directly (operators and fixtures; subscriptions set it through `tdk_apply_subscription`). */
export async function setAccountTier(db: Database, accountId: string, tier: "free" | "paid" | "pro"): Promise<void> {
  await callFunction(db, "tdk_set_account_tier", { p_account_id: accountId, p_tier: tier }, z.unknown());
}

/** The account's password hash, to check the current password before a change or a deletion. */
export async function getPasswordHash(db: Database, accountId: string): Promise<string | null> {
  return (
    (await callFunction(db, "tdk_get_password_hash", { p_account_id: accountId }, z.object({ password_hash: z.string() }).nullable()))
      ?.password_hash ?? null
  );
}

/** Sets a new password hash and revokes every session of the account but `keepSessionId`. */
export function changePasswordHash(db: Database, accountId: string, passwordHash: string, keepSessionId: string | null) {
  return callFunction(
    db,
    "tdk_change_password",
    { p_account_id: accountId, p_password_hash: passwordHash, p_keep_session_id: keepSessionId },
    z.union([okResult({ sessions_revoked: z.number().int() }), refusedResult("account_not_found")]),
  );
}

/** Stores a reset token's hash for the account with this email, if there is one (earlier tokens end). */
export async function createPasswordReset(db: Database, email: string, tokenHash: string, expiresAt: Date): Promise<boolean> {
  return (
    await callFunction(
      db,
      "tdk_create_password_reset",
      { p_email: email, p_token_hash: tokenHash, p_expires_at: expiresAt },
      z.object({ created: z.boolean() }),
    )
  ).created;
}

/** Uses a reset token once (unexpired, unused): the new password is set and every session revoked. */
export function redeemPasswordReset(db: Database, tokenHash: string, passwordHash: string) {
  return callFunction(
    db,
    "tdk_use_password_reset",
    { p_token_hash: tokenHash, p_password_hash: passwordHash },
    z.union([okResult({ account_id: z.string().uuid() }), refusedResult("invalid_token")]),
  );
}

/** Erases the account's personal data and revokes its keys and sessions; its usage stays under its (now pseudonymous) id. */
export function deleteAccountRow(db: Database, accountId: string) {
  return callFunction(
    db,
    "tdk_delete_account",
    { p_account_id: accountId },
    z.union([
      okResult({
        keys_revoked: z.number().int(),
        stripe_customer_id: z.string().nullable(),
        stripe_subscription_id: z.string().nullable(),
      }),
      refusedResult("account_not_found"),
    ]),
  );
}

/** The account as its owner sees it (counters of the current month); null once deleted. */
export function getAccount(db: Database, accountId: string): Promise<Account | null> {
  return callFunction(db, "tdk_get_account", { p_account_id: accountId }, accountOrNone);
}
