// GET /api/cron/treasury-topup — refill wallets under the low-water mark from the treasury, within the caps; alert when it runs low
import { withCron } from "@/lib/http/handlers";
import { json } from "@/lib/http/response";
import { fundingDeps } from "@/lib/money/funding-deps";
import { checkTreasury } from "@/lib/ops/cron-deps";
import { runTreasuryTopUp } from "@/lib/ops/treasury-topup";

export const maxDuration = 300;
export const dynamic = "force-dynamic";

export const GET = withCron(async ({ app }) => {
  const funding = await fundingDeps(app);
  if (!funding) {
    const health = await checkTreasury(app);
    return json({ ok: false, skipped: "no_treasury", treasury: health.status });
  }
  const summary = await runTreasuryTopUp({
    ...funding,
    lowWaterUsdcMicro: app.env.topup.lowWaterUsdcMicro,
    targets: { usdcMicro: app.env.topup.targetUsdcMicro, solLamports: app.env.funding.initialSolLamports },
  });
  const health = await checkTreasury(app);
  return json({ ok: true, ...summary, treasury: { status: health.status, usdc: health.usdc, sol: health.sol } });
});
