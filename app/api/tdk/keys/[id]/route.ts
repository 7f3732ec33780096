// GET, PATCH, DELETE /api/tdk/keys/{id} — read one of the caller's API keys, set its spend limit, or revoke it
import { withSession } from "@/lib/http/handlers";
import { readJson } from "@/lib/http/request";
import { respond } from "@/lib/http/response";
import { keyIdSchema, keyResponseSchema, updateKeySchema } from "@/lib/keys/schemas";

export const GET = withSession<{ id: string }>(async ({ services, session, params }) =>
  respond(keyResponseSchema, { key: await services.keys.get(session.account.id, keyIdSchema.parse(params.id)) }),
);

export const PATCH = withSession<{ id: string }>(async ({ request, services, session, params }) => {
  const keyId = keyIdSchema.parse(params.id);
  const update = await readJson(request, updateKeySchema);
  return respond(keyResponseSchema, { key: await services.keys.setSpendLimit(session.account.id, keyId, update) });
});

export const DELETE = withSession<{ id: string }>(async ({ services, session, params }) =>
  respond(keyResponseSchema, { key: await services.keys.revoke(session.account.id, keyIdSchema.parse(params.id)) }),
);
