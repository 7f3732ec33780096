// GET /api/cron/report-usage — report settled usage to Stripe's Billing Meter, exactly once
import { withCron } from "@/lib/http/handlers";
import { json } from "@/lib/http/response";

export const maxDuration = 300;
export const dynamic = "force-dynamic";

export const GET = withCron(async ({ services }) => {
  const summary = await services.billing.reportUsage();
  return json(summary ? { ok: true, ...summary } : { ok: true, skipped: "stripe_not_configured" });
});
