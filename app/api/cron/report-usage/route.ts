// GET /api/cron/report-usage — report settled usage to Stripe's Billing Meter, exactly once
import { reportUsage } from "@/lib/billing/report-usage";
import { withCron } from "@/lib/http/handlers";
import { json } from "@/lib/http/response";

export const maxDuration = 300;
export const dynamic = "force-dynamic";

export const GET = withCron(async ({ app }) => {
  if (!app.stripe || !app.env.stripe) return json({ ok: true, skipped: "stripe_not_configured" });
  const summary = await reportUsage({ db: app.db, stripe: app.stripe, meterEventName: app.env.stripe.meterEventName });
  return json({ ok: true, ...summary });
});
