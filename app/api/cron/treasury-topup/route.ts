// GET /api/cron/treasury-topup — refill wallets under the low-water mark from the treasury; alert when it runs low
import { withCron } from "@/lib/http/handlers";
import { json } from "@/lib/http/response";
import { checkTreasury } from "@/lib/ops/cron-deps";
import { runTreasuryTopUp } from "@/lib/ops/treasury-topup";
import { loadTreasury } from "@/lib/solana/treasury";

export const maxDuration = 300;
export const dynamic = "force-dynamic";

export const GET = withCron(async ({ app }) => {
  const treasury = await loadTreasury(app.db, app.ring);
  if (!treasury) {
    const health = await checkTreasury(app);
    return json({ ok: false, skipped: "no_treasury", treasury: health.status });
  }
  const summary = await runTreasuryTopUp({
    db: app.db,
    ledger: app.ledger,
    treasury,
    lowWaterUsdcMicro: app.env.topup.lowWaterUsdcMicro,
    targetUsdcMicro: app.env.topup.targetUsdcMicro,
    solTarget: app.env.funding.initialSolLamports,
    keyDailyCapMicro: app.env.topup.keyDailyCapMicro,
    totalDailyCapMicro: app.env.topup.totalDailyCapMicro,
  });
  const health = await checkTreasury(app);
  return json({ ok: true, ...summary, treasury: { status: health.status, usdc: health.usdc, sol: health.sol } });
});
