// POST /api/tdk/keys/{id}/rotate — a new secret for the same key and wallet (shown once); the old one works for a grace period
import { withSession } from "@/lib/http/handlers";
import { readJson } from "@/lib/http/request";
import { respond } from "@/lib/http/response";
import { keyIdSchema, rotatedKeyResponseSchema, rotateKeySchema } from "@/lib/keys/schemas";

export const POST = withSession<{ id: string }>(async ({ request, services, session, params }) => {
  const keyId = keyIdSchema.parse(params.id);
  const { grace_period_hours: graceHours } = await readJson(request, rotateKeySchema, { optional: true });
  const rotated = await services.keys.rotate(session.account.id, keyId, graceHours);
  return respond(rotatedKeyResponseSchema, {
    api_key: rotated.apiKey,
    key: rotated.key,
    previous_secret_expires_at: rotated.previousExpiresAt,
  });
});
