import type { RateLimitPolicy } from "./types";

/**
 * Every rate limit of the gateway, in one place. Each policy's `name` namespaces its counters, so
 * two policies never share one.
 */

/** Brute force on the auth endpoints (JSON and forms): per email stops a distributed guess at one account, per IP one client spraying many. */
export const authLimits = {
  loginPerIp: { name: "login:ip", limit: 30, windowMs: 15 * 60_000 },
  loginPerEmail: { name: "login:email", limit: 10, windowMs: 15 * 60_000 },
  registerPerIp: { name: "register:ip", limit: 20, windowMs: 60 * 60_000 },
  registerPerEmail: { name: "register:email", limit: 5, windowMs: 60 * 60_000 },
  /** Reset links asked for: per IP (one client mailing many people) and per email (mail-bombing one person). */
  passwordResetPerIp: { name: "reset:ip", limit: 10, windowMs: 60 * 60_000 },
  passwordResetPerEmail: { name: "reset:email", limit: 3, windowMs: 60 * 60_000 },
  /** Tokens tried on the reset page, per IP. */
  passwordResetConfirmPerIp: { name: "reset-confirm:ip", limit: 20, windowMs: 15 * 60_000 },
  /** Current-password checks (change, delete) per account: a stolen session cannot guess the password. */
  passwordCheckPerAccount: { name: "password-check:account", limit: 10, windowMs: 15 * 60_000 },
} satisfies Record<string, RateLimitPolicy>;

/** Requests per minute per API key, by the account's tier (`/v1`). */
export const tierRateLimits = {
  free: { name: "v1:free", limit: 100, windowMs: 60_000 },
  paid: { name: "v1:paid", limit: 1_000, windowMs: 60_000 },
  pro: { name: "v1:pro", limit: 10_000, windowMs: 60_000 },
} satisfies Record<"free" | "paid" | "pro", RateLimitPolicy>;

/** Failed key authentications per client IP: guessing keys is throttled. */
export const unauthenticatedRateLimit: RateLimitPolicy = { name: "v1:unauthenticated", limit: 60, windowMs: 60_000 };

/** The public agent catalog, per client IP. */
export const catalogRateLimit: RateLimitPolicy = { name: "v1:agents", limit: 300, windowMs: 60_000 };

/** The marketplace's own calls per wallet per minute, enforced before anything is reserved (null: no limit configured). */
export function marketplaceWalletLimit(callsPerMinute: number | null): RateLimitPolicy | null {
  return callsPerMinute === null ? null : { name: "marketplace:wallet", limit: callsPerMinute, windowMs: 60_000 };
}
