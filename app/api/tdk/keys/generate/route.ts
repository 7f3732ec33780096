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
    switch (result.code) {
      case "key_limit_reached":
        throw new ApiError("key_limit_reached", `An account can hold at most ${result.limit} active keys. Revoke one first.`, {
          limit: result.limit,
        });
      case "key_daily_limit_reached": {
        const seconds = Math.max(1, Math.ceil((Date.parse(result.retry_at!) - Date.now()) / 1000));
        throw new ApiError(
          "key_daily_limit_reached",
          `An account can create at most ${result.limit} keys a day (UTC). Try again after ${result.retry_at}.`,
          {
            limit: result.limit,
            retry_at: result.retry_at,
            headers: { "Retry-After": String(seconds) },
          },
        );
      }
      case "account_suspended":
        throw new ApiError("account_suspended", `This account is suspended (${result.reason}): no key can be created until it is lifted.`, {
          reason: result.reason,
        });
      case "account_not_found":
        throw new ApiError("unauthorized", "The account of this session no longer exists.");
    }
  }
  return json({ api_key: result.apiKey, key: result.key, funding: result.funding }, { status: 201 });
});
