import { z } from "zod";
import type { AppContext } from "@/lib/context";
import { treasuryHealth } from "./treasury-health";

/**
 * The gateway's parts and its treasury, checked at most every `HEALTH_TTL_MS` per app instance:
 * `GET /api/health` is public, and without the cache each request would cost a Stripe call,
 * three RPC calls and two queries.
 */
export const HEALTH_TTL_MS = 30_000;

export const liveResponseSchema = z.object({ status: z.literal("ok") });
/** The public answer is status and checked_at; operators (Bearer CRON_SECRET) get the parts too. */
export const healthResponseSchema = z.object({ status: z.enum(["ok", "warning", "degraded"]) }).catchall(z.unknown());

type PartStatus = "ok" | "unreachable" | "off";

export interface HealthReport {
  status: "ok" | "warning" | "degraded";
  checked_at: string;
  database: { backend: string; status: PartStatus };
  ledger: { backend: string; status: PartStatus };
  stripe: { status: PartStatus };
  rate_limiter: { backend: string; status: PartStatus };
  treasury: { status: string; public_key: string | null; usdc: string; sol: string; low: string[]; alert: string | null } | null;
}

const cache = new WeakMap<AppContext, { at: number; report: Promise<HealthReport> }>();

export function healthReport(app: AppContext, now = Date.now()): Promise<HealthReport> {
  const cached = cache.get(app);
  if (cached && now - cached.at < HEALTH_TTL_MS) return cached.report;
  const report = checkHealth(app);
  cache.set(app, { at: now, report });
  // A check that threw is not kept: the next request tries again.
  report.catch(() => cache.delete(app));
  return report;
}

async function checkHealth(app: AppContext): Promise<HealthReport> {
  const ok = () => "ok" as const;
  const unreachable = () => "unreachable" as const;
  const limiter = app.limiter as { ping?: () => Promise<void> };
  const [database, ledger, stripe, rateLimiter] = await Promise.all([
    app.db.ping().then(ok, unreachable),
    app.ledger.ping().then(ok, unreachable),
    app.stripe ? app.stripe.billing.meters.list({ limit: 1 }).then(ok, unreachable) : Promise.resolve("off" as const),
    limiter.ping ? limiter.ping().then(ok, unreachable) : Promise.resolve("ok" as const),
  ]);
  const treasury =
    database === "ok" && ledger === "ok" ? await treasuryHealth(app.db, app.ledger, app.env.treasuryFloat).catch(() => null) : null;
  const healthy = database === "ok" && ledger === "ok" && stripe !== "unreachable" && rateLimiter === "ok";
  return {
    status: !healthy ? "degraded" : treasury?.status === "ok" ? "ok" : "warning",
    checked_at: new Date().toISOString(),
    database: { backend: app.db.kind, status: database },
    ledger: { backend: app.ledger.kind, status: ledger },
    stripe: { status: stripe },
    rate_limiter: { backend: app.limiter.kind, status: rateLimiter },
    treasury: treasury && {
      status: treasury.status,
      public_key: treasury.public_key,
      usdc: treasury.usdc,
      sol: treasury.sol,
      low: treasury.low,
      alert: treasury.status === "ok" ? null : `Treasury under 20% of its float (${treasury.low.join(", ")})`,
    },
  };
}
