// GET, PATCH, DELETE /api/tdk/keys/{id} — read one of the caller's API keys, set its spend limit, or revoke it
import { getApiKey, revokeApiKey, setKeySpendLimit } from "@/lib/keys/keys";
import { keyIdSchema, updateKeySchema } from "@/lib/keys/schemas";
import { ApiError, validationError } from "@/lib/http/errors";
import { withSession } from "@/lib/http/handlers";
import { readJson } from "@/lib/http/request";
import { json } from "@/lib/http/response";

function parseKeyId(id: string): string {
  const parsed = keyIdSchema.safeParse(id);
  if (!parsed.success) throw validationError(parsed.error);
  return parsed.data;
}

const notFound = () => new ApiError("not_found", "No such key.");

export const GET = withSession<{ id: string }>(async ({ app, session, params }) => {
  const key = await getApiKey(app.db, session.account.id, parseKeyId(params.id));
  if (!key) throw notFound();
  return json({ key });
});

export const PATCH = withSession<{ id: string }>(async ({ request, app, session, params }) => {
  const keyId = parseKeyId(params.id);
  const update = await readJson(request, updateKeySchema);
  const result = await setKeySpendLimit(app.db, session.account.id, keyId, update);
  if (!result.ok) {
    if (result.code === "key_revoked") throw new ApiError("conflict", "This key is revoked: its spend limit can no longer change.");
    throw notFound();
  }
  return json({ key: result.key });
});

export const DELETE = withSession<{ id: string }>(async ({ app, session, params }) => {
  const key = await revokeApiKey(app.db, session.account.id, parseKeyId(params.id));
  if (!key) throw notFound();
  return json({ key });
});
