// GET /api/cron/reconcile — daily: yesterday (UTC) reconciled; payments vs usage, treasury vs fundings, reported usage vs Stripe's meter
import { withCron } from "@/lib/http/handlers";
import { json } from "@/lib/http/response";

export const maxDuration = 300;
export const dynamic = "force-dynamic";

const DAY_MS = 86_400_000;

export const GET = withCron(async ({ request, services }) => {
  // The previous whole UTC day by default; ?day=YYYY-MM-DD for another (operators re-running one).
  const day = request.nextUrl.searchParams.get("day");
  const today = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate());
  const from =
    day && /^\d{4}-\d{2}-\d{2}$/.test(day) && !Number.isNaN(Date.parse(day)) ? new Date(Date.parse(day)) : new Date(today - DAY_MS);
  const run = await services.ops.reconcile({ from, to: new Date(from.getTime() + DAY_MS) });
  return json({
    ok: true,
    from: run.report.from,
    to: run.report.to,
    calls: run.report.calls,
    treasury_checked: run.treasury_checked,
    stripe_checked: run.stripe_checked,
    differences: run.report.differences.length,
    new_differences: run.new_differences,
    open_differences: run.open_differences,
  });
});
