// GET /api/tdk/v1/usage — this API key's usage history and summary (?format=csv to export)
import { ApiError } from "@/lib/http/errors";
import { withApiKey } from "@/lib/http/handlers";
import { usageResponse } from "@/lib/http/usage-response";

export const GET = withApiKey(async ({ request, services, key }) =>
  usageResponse(
    await services.usage.read(request.nextUrl.searchParams, async (keyId) => {
      if (keyId && keyId !== key.key_id) throw new ApiError("not_found", "No such key.");
      return { accountId: key.account_id, keyId: key.key_id };
    }),
  ),
);
