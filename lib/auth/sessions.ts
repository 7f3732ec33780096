import { createHash, randomBytes } from "node:crypto";
import type { Database } from "@/lib/db";
import { getSessionByHash, insertSession, revokeSessionByHash, type Session } from "./account-store";

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

export type { Session } from "./account-store";

export async function createSession(db: Database, accountId: string, ttlMs: number, now = new Date()) {
  const token = generateSessionToken();
  const expiresAt = new Date(now.getTime() + ttlMs);
  await insertSession(db, accountId, hashSessionToken(token), expiresAt);
  return { token, expiresAt };
}

/** The live session of a token, or null (malformed, unknown, expired or revoked). */
export async function getSession(db: Database, token: string | null | undefined): Promise<Session | null> {
  if (!token || !TOKEN_PATTERN.test(token)) return null;
  return getSessionByHash(db, hashSessionToken(token));
}

export async function revokeSession(db: Database, token: string): Promise<boolean> {
  if (!TOKEN_PATTERN.test(token)) return false;
  return revokeSessionByHash(db, hashSessionToken(token));
}
