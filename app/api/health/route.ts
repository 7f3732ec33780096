// GET /api/health — reachability of the database, ledger, Stripe and rate limiter, and the treasury's health
import { withPublic } from "@/lib/http/handlers";
import { json } from "@/lib/http/response";
import { treasuryHealth } from "@/lib/ops/treasury-health";

const ok = () => "ok" as const;
const unreachable = () => "unreachable" as const;

export const dynamic = "force-dynamic";

export const GET = withPublic(async ({ app }) => {
  const limiter = app.limiter as { ping?: () => Promise<void> };
  const [database, ledger, stripe, rateLimiter] = await Promise.all([
    app.db.ping().then(ok, unreachable),
    app.ledger.ping().then(ok, unreachable),
    app.stripe ? app.stripe.billing.meters.list({ limit: 1 }).then(ok, unreachable) : Promise.resolve("off" as const),
    limiter.ping ? limiter.ping().then(ok, unreachable) : Promise.resolve("ok" as const),
  ]);
  const treasury = database === "ok" && ledger === "ok" ? await treasuryHealth(app.db, app.ledger, app.env.treasuryFloat).catch(() => null) : null;
  const healthy = database === "ok" && ledger === "ok" && stripe !== "unreachable" && rateLimiter === "ok";
  return json(
    {
      status: !healthy ? "degraded" : treasury?.status === "ok" ? "ok" : "warning",
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
    },
    { status: healthy ? 200 : 503 },
  );
});
