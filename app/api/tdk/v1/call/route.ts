// POST /api/tdk/v1/call — pay and call an agent
import { callDeps } from "@/lib/calls/deps";
import { paidCall } from "@/lib/calls/paid-call";
import { callBodySchema, idempotencyKeySchema } from "@/lib/calls/schemas";
import { validationError } from "@/lib/http/errors";
import { withApiKey } from "@/lib/http/handlers";
import { expectedOrigin, readJson } from "@/lib/http/request";
import { json } from "@/lib/http/response";

export const POST = withApiKey(async ({ request, app, key, requestId }) => {
  const header = request.headers.get("idempotency-key");
  const idempotencyKey = header === null ? null : idempotencyKeySchema.safeParse(header);
  if (idempotencyKey && !idempotencyKey.success) throw validationError(idempotencyKey.error);
  const body = await readJson(request, callBodySchema, { maxBytes: 64 * 1024 });

  const origin = expectedOrigin(request, app.env.appUrl) ?? "http://localhost:3000";
  const answer = await paidCall(callDeps(app), key, { requestId, body, idempotencyKey: idempotencyKey?.data ?? null, origin });
  return json(answer.body, { status: answer.status, headers: { ...answer.headers, ...(answer.replayed ? { "Idempotent-Replayed": "true" } : {}) } });
});
