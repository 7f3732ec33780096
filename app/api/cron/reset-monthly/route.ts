// GET /api/cron/reset-monthly — monthly call counters back to zero at the month boundary (idempotent)
import { withCron } from "@/lib/http/handlers";
import { json } from "@/lib/http/response";

export const maxDuration = 60;
export const dynamic = "force-dynamic";

export const GET = withCron(async ({ services }) => json({ ok: true, ...(await services.ops.resetMonthlyCounters()) }));
