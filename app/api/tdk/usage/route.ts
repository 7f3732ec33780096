// GET /api/tdk/usage — usage of all the account's keys (or one, ?key_id=), history and summary; ?format=csv to export
import { ApiError } from "@/lib/http/errors";
import { withSession } from "@/lib/http/handlers";
import { getApiKey } from "@/lib/keys/keys";
import { usageResponse } from "@/lib/http/usage-response";

export const GET = withSession(async ({ request, app, session }) =>
  usageResponse(app.db, request.nextUrl.searchParams, async (keyId) => {
    if (keyId && !(await getApiKey(app.db, session.account.id, keyId))) throw new ApiError("not_found", "No such key.");
    return { accountId: session.account.id, keyId: keyId ?? null };
  }),
);
