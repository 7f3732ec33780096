import type { Database } from "@/lib/db";
import { getLoginAccount, insertAccount } from "./account-store";
import { hashPassword, verifyPassword } from "./passwords";
import type { Account } from "./schemas";
import { createSession } from "./sessions";

export type RegisterResult = { ok: true; account: Account } | { ok: false; code: "email_taken" };

export async function registerAccount(db: Database, email: string, password: string): Promise<RegisterResult> {
  const passwordHash = await hashPassword(password);
  return insertAccount(db, email, passwordHash);
}

export type LoginResult = { ok: true; token: string; expiresAt: Date } | { ok: false; code: "invalid_credentials" };

/** Same answer, same work, for an unknown email and a wrong password. */
export async function logIn(db: Database, email: string, password: string, sessionTtlMs: number): Promise<LoginResult> {
  const account = await getLoginAccount(db, email);
  const valid = await verifyPassword(password, account?.password_hash ?? null);
  if (!account || !valid) return { ok: false, code: "invalid_credentials" };
  const session = await createSession(db, account.id, sessionTtlMs);
  return { ok: true, ...session };
}

export { resetMonthlyCounters } from "./account-store";
