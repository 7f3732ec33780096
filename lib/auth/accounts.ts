import { z } from "zod";
import { callFunction, type Database } from "@/lib/db";
import { hashPassword, verifyPassword } from "./passwords";
import { accountSchema, type Account } from "./schemas";
import { createSession } from "./sessions";

export type RegisterResult = { ok: true; account: Account } | { ok: false; code: "email_taken" };

export async function registerAccount(db: Database, email: string, password: string): Promise<RegisterResult> {
  const passwordHash = await hashPassword(password);
  return callFunction(
    db,
    "tdk_register_account",
    { p_email: email, p_password_hash: passwordHash },
    z.union([
      z.object({ ok: z.literal(true), account: accountSchema }),
      z.object({ ok: z.literal(false), code: z.literal("email_taken") }),
    ]),
  );
}

export type LoginResult = { ok: true; token: string; expiresAt: Date } | { ok: false; code: "invalid_credentials" };

/** Same answer, same work, for an unknown email and a wrong password. */
export async function logIn(db: Database, email: string, password: string, sessionTtlMs: number): Promise<LoginResult> {
  const account = await callFunction(
    db,
    "tdk_get_login_account",
    { p_email: email },
    z.object({ id: z.string().uuid(), password_hash: z.string() }).nullable(),
  );
  const valid = await verifyPassword(password, account?.password_hash ?? null);
  if (!account || !valid) return { ok: false, code: "invalid_credentials" };
  const session = await createSession(db, account.id, sessionTtlMs);
  return { ok: true, ...session };
}
