// GET /api/cron/recover-calls — settle paid calls a crash left pending, from the chain; alert on those that stay pending
import { withCron } from "@/lib/http/handlers";
import { json } from "@/lib/http/response";

export const maxDuration = 120;
export const dynamic = "force-dynamic";

export const GET = withCron(async ({ services }) => json({ ok: true, ...(await services.calls.recoverPending()) }));
