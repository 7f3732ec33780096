// GET /api/cron/recover-calls — settle paid calls a crash left pending, from the chain; alert on those that stay pending
import { recoverPendingCalls } from "@/lib/calls/recovery";
import { withCron } from "@/lib/http/handlers";
import { json } from "@/lib/http/response";
import { moneyPolicy } from "@/lib/money/policy";
import { alertStalePending } from "@/lib/ops/stale-pending";

export const maxDuration = 120;
export const dynamic = "force-dynamic";

export const GET = withCron(async ({ app }) => {
  const result = await recoverPendingCalls(
    { db: app.db, ledger: app.ledger, policy: moneyPolicy(app.env), agents: app.agents },
    { olderThan: new Date(Date.now() - app.env.agentCalls.recoverPendingAfterMs), limit: 500 },
  );
  const stale = await alertStalePending(app.db, { webhookUrl: app.env.alertWebhookUrl });
  return json({ ok: true, ...result, stale_calls: stale.calls, stale_fundings: stale.fundings });
});
