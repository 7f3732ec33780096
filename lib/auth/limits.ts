import type { RateLimitPolicy } from "@/lib/ratelimit/types";

/**
 * Brute-force limits on the public auth endpoints, per client IP and per email. Per email stops a
 * distributed guess at one account; per IP stops one client spraying many accounts.
 */
export const authLimits = {
  loginPerIp: { name: "login:ip", limit: 30, windowMs: 15 * 60_000 },
  loginPerEmail: { name: "login:email", limit: 10, windowMs: 15 * 60_000 },
  registerPerIp: { name: "register:ip", limit: 20, windowMs: 60 * 60_000 },
  registerPerEmail: { name: "register:email", limit: 5, windowMs: 60 * 60_000 },
} satisfies Record<string, RateLimitPolicy>;
