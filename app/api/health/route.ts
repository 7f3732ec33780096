// GET /api/health — the gateway's health (checked at most every 30 s); its parts and treasury only to Bearer $CRON_SECRET
import { presentsCronSecret, withPublic } from "@/lib/http/handlers";
import { respond } from "@/lib/http/response";
import { healthResponseSchema } from "@/lib/ops/health";

export const dynamic = "force-dynamic";

export const GET = withPublic(async (call) => {
  const report = await call.services.ops.health();
  const status = report.status === "degraded" ? 503 : 200;
  // The backends, the treasury's address and balances are for operators, not for anyone who asks.
  if (!presentsCronSecret(call)) return respond(healthResponseSchema, { status: report.status, checked_at: report.checked_at }, { status });
  return respond(healthResponseSchema, { ...report }, { status });
});
