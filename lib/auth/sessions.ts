import { createHash, randomBytes } from "node:crypto";
import { z } from "zod";
import { callFunction, type Database } from "@/lib/db";
import { accountSchema, type Account } from "./schemas";

/** The web pages' session cookie: HttpOnly, Secure, SameSite=Lax, holding a random token. */
export const SESSION_COOKIE = "tdk_session";

const TOKEN_PATTERN = /^tds_[A-Za-z0-9_-]{43}$/;

export function generateSessionToken(): string {
  return `tds_${randomBytes(32).toString("base64url")}`;
}

/** Only this hash is stored: a database leak yields no usable session. */
export function hashSessionToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

export interface Session {
  id: string;
  expires_at: string;
  account: Account;
}

const sessionSchema = z.object({ id: z.string().uuid(), expires_at: z.string(), account: accountSchema });

export async function createSession(db: Database, accountId: string, ttlMs: number, now = new Date()) {
  const token = generateSessionToken();
  const expiresAt = new Date(now.getTime() + ttlMs);
  await callFunction(
    db,
    "tdk_create_session",
    { p_account_id: accountId, p_token_hash: hashSessionToken(token), p_expires_at: expiresAt },
    z.object({ id: z.string().uuid(), expires_at: z.string() }),
  );
  return { token, expiresAt };
}

/** The live session of a token, or null (malformed, unknown, expired or revoked). */
export async function getSession(db: Database, token: string | null | undefined): Promise<Session | null> {
  if (!token || !TOKEN_PATTERN.test(token)) return null;
  return callFunction(db, "tdk_get_session", { p_token_hash: hashSessionToken(token) }, sessionSchema.nullable());
}

export async function revokeSession(db: Database, token: string): Promise<boolean> {
  if (!TOKEN_PATTERN.test(token)) return false;
  const result = await callFunction(
    db,
    "tdk_revoke_session",
    { p_token_hash: hashSessionToken(token) },
    z.object({ revoked: z.boolean() }),
  );
  return result.revoked;
}
