// GET /api/cron/treasury-topup — refill wallets under the low-water mark from the treasury, within the caps; alert when it runs low
import { withCron } from "@/lib/http/handlers";
import { json } from "@/lib/http/response";

export const maxDuration = 300;
export const dynamic = "force-dynamic";

export const GET = withCron(async ({ services }) => {
  const { summary, treasury } = await services.funding.topUpWallets();
  if (!summary) return json({ ok: false, skipped: "no_treasury", treasury: treasury.status });
  return json({ ok: true, ...summary, treasury: { status: treasury.status, usdc: treasury.usdc, sol: treasury.sol } });
});
