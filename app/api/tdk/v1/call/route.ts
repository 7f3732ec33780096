// POST /api/tdk/v1/call — pay and call an agent
import type { z } from "zod";
import { callBodySchema, callSuccessSchema, idempotencyKeySchema } from "@/lib/calls/schemas";
import { callAnswer, callLogFields } from "@/lib/http/call-answer";
import { withApiKey } from "@/lib/http/handlers";
import { readJson } from "@/lib/http/request";
import { json, respond } from "@/lib/http/response";
import { observeCall } from "@/lib/ops/metrics";

/**
 * A coordinator agent may run 180 s (plus the payment's submission) before the marketplace
 * answers; the function must outlive it, or a paid answer is lost. Vercel Pro allows 300 s.
 */
export const maxDuration = 300;

// The key's verification may be one of the last seconds': the reservation checks the key again,
// under its lock, before anything is reserved or paid (lib/keys/recent-verifications.ts).
export const POST = withApiKey(
  async ({ request, services, key, requestId, origin, annotate }) => {
    const started = performance.now();
    const header = request.headers.get("idempotency-key");
    const idempotencyKey = header === null ? null : idempotencyKeySchema.parse(header);
    const body = await readJson(request, callBodySchema, { maxBytes: 64 * 1024 });

    const outcome = await services.calls.call(key, { requestId, body, idempotencyKey });
    const answer = callAnswer(outcome, origin);
    const fields = callLogFields(outcome);
    annotate(fields);
    observeCall((performance.now() - started) / 1000, typeof fields.refusal === "string" ? fields.refusal : null);
    // A success is conformed to its documented shape; refusals are already in the common error shape.
    if (answer.status === 200)
      return respond(callSuccessSchema, answer.body as z.input<typeof callSuccessSchema>, { headers: answer.headers });
    return json(answer.body, { status: answer.status, headers: answer.headers });
  },
  { reuseRecentVerification: true },
);
