// POST /api/tdk/keys/generate — create an API key with its own funded wallet; the key is shown once
import { withSession } from "@/lib/http/handlers";
import { readJson } from "@/lib/http/request";
import { respond } from "@/lib/http/response";
import { createdKeyResponseSchema, createKeySchema } from "@/lib/keys/schemas";

export const POST = withSession(async ({ request, services, session }) => {
  const { name } = await readJson(request, createKeySchema, { optional: true });
  const created = await services.keys.create(session.account.id, name);
  return respond(createdKeyResponseSchema, { api_key: created.apiKey, key: created.key, funding: created.funding }, { status: 201 });
});
