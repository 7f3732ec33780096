// GET /api/cron/sweep-wallets — move revoked keys' wallets (USDC, token-account rent, SOL) back to the treasury
import { withCron } from "@/lib/http/handlers";
import { json } from "@/lib/http/response";

export const maxDuration = 300;
export const dynamic = "force-dynamic";

export const GET = withCron(async ({ services }) => {
  const summary = await services.funding.sweepWallets();
  return json(summary ? { ok: true, ...summary } : { ok: false, skipped: "no_treasury" });
});
