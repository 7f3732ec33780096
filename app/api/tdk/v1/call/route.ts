// POST /api/tdk/v1/call — pay and call an agent
import { callDeps } from "@/lib/calls/deps";
import { paidCall } from "@/lib/calls/paid-call";
import { recoverPendingCalls } from "@/lib/calls/recovery";
import { callBodySchema, idempotencyKeySchema } from "@/lib/calls/schemas";
import { callAnswer } from "@/lib/http/call-answer";
import { validationError } from "@/lib/http/errors";
import { withApiKey } from "@/lib/http/handlers";
import { expectedOrigin, readJson } from "@/lib/http/request";
import { json } from "@/lib/http/response";

/**
 * A coordinator agent may run 180 s (plus the payment's submission) before the marketplace
 * answers; the function must outlive it, or a paid answer is lost. Vercel Pro allows 300 s.
 */
export const maxDuration = 300;

export const POST = withApiKey(async ({ request, app, key, requestId }) => {
  const header = request.headers.get("idempotency-key");
  const idempotencyKey = header === null ? null : idempotencyKeySchema.safeParse(header);
  if (idempotencyKey && !idempotencyKey.success) throw validationError(idempotencyKey.error);
  const body = await readJson(request, callBodySchema, { maxBytes: 64 * 1024 });

  const deps = callDeps(app);
  // This key's calls a crash or a lost answer left pending are settled from the chain first.
  await recoverPendingCalls(deps, { keyId: key.key_id, olderThan: new Date(Date.now() - app.env.agentCalls.recoverPendingAfterMs) });
  const outcome = await paidCall(deps, key, { requestId, body, idempotencyKey: idempotencyKey?.data ?? null });

  const answer = callAnswer(outcome, expectedOrigin(request, app.env.appUrl) ?? "http://localhost:3000");
  return json(answer.body, { status: answer.status, headers: answer.headers });
});
