// GET /api/cron/reset-monthly — monthly call counters back to zero at the month boundary (idempotent)
import { z } from "zod";
import { callFunction } from "@/lib/db";
import { withCron } from "@/lib/http/handlers";
import { json } from "@/lib/http/response";

export const maxDuration = 60;
export const dynamic = "force-dynamic";

export const GET = withCron(async ({ app }) => {
  const result = await callFunction(
    app.db,
    "tdk_reset_monthly_counters",
    {},
    z.object({ month: z.string(), accounts_reset: z.number().int() }),
  );
  return json({ ok: true, ...result });
});
