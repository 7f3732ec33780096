// GET, DELETE /api/tdk/keys/{id} — read or revoke one of the caller's API keys
import { getApiKey, revokeApiKey } from "@/lib/keys/keys";
import { keyIdSchema } from "@/lib/keys/schemas";
import { ApiError, validationError } from "@/lib/http/errors";
import { withSession } from "@/lib/http/handlers";
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

export const DELETE = withSession<{ id: string }>(async ({ app, session, params }) => {
  const key = await revokeApiKey(app.db, session.account.id, parseKeyId(params.id));
  if (!key) throw notFound();
  return json({ key });
});
