// GET /api/cron/recover-calls — settle paid calls a crash left pending, from the chain
import { recoverPendingCalls } from "@/lib/calls/recovery";
import { STALE_PENDING_MS } from "@/lib/calls/paid-call";
import { withCron } from "@/lib/http/handlers";
import { moneyPolicy } from "@/lib/money/policy";
import { json } from "@/lib/http/response";

export const maxDuration = 120;
export const dynamic = "force-dynamic";

export const GET = withCron(async ({ app }) => {
  const result = await recoverPendingCalls({ db: app.db, ledger: app.ledger, policy: moneyPolicy(app.env) }, { olderThan: new Date(Date.now() - STALE_PENDING_MS), limit: 500 });
  return json({ ok: true, ...result });
});
