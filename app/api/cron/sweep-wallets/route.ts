// GET /api/cron/sweep-wallets — move revoked keys' wallets (USDC, token-account rent, SOL) back to the treasury
import { withCron } from "@/lib/http/handlers";
import { json } from "@/lib/http/response";
import { fundingDeps } from "@/lib/money/funding-deps";
import { runWalletSweep } from "@/lib/ops/sweep-wallets";

export const maxDuration = 300;
export const dynamic = "force-dynamic";

export const GET = withCron(async ({ app }) => {
  const funding = await fundingDeps(app);
  if (!funding) return json({ ok: false, skipped: "no_treasury" });
  const summary = await runWalletSweep({ ...funding, ring: app.ring });
  return json({ ok: true, ...summary });
});
