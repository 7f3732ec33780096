// POST /api/tdk/keys/generate — create an API key with its own funded wallet; the key is shown once
import { keyDeps } from "@/lib/keys/deps";
import { createApiKey } from "@/lib/keys/keys";
import { createKeySchema } from "@/lib/keys/schemas";
import { ApiError } from "@/lib/http/errors";
import { withSession } from "@/lib/http/handlers";
import { readJson } from "@/lib/http/request";
import { json } from "@/lib/http/response";

export const POST = withSession(async ({ request, app, session }) => {
  const { name } = await readJson(request, createKeySchema, { optional: true });
  const result = await createApiKey(await keyDeps(app), session.account.id, name);
  if (!result.ok) {
    if (result.code === "key_limit_reached") {
      throw new ApiError("key_limit_reached", `An account can hold at most ${result.limit} active keys. Revoke one first.`, { limit: result.limit });
    }
    throw new ApiError("unauthorized", "The account of this session no longer exists.");
  }
  return json(
    { api_key: result.apiKey, key: result.key, funding: result.funding && { status: result.funding.status, tx_signature: result.funding.tx_signature } },
    { status: 201 },
  );
});
