// GET /api/tdk/usage — usage of all the account's keys (or one, ?key_id=), history and summary; ?format=csv to export
import { withSession } from "@/lib/http/handlers";
import { usageResponse } from "@/lib/http/usage-response";

export const GET = withSession(async ({ request, services, session }) =>
  usageResponse(
    await services.usage.read(request.nextUrl.searchParams, (keyId) => services.usage.scopeForAccount(session.account.id, keyId)),
  ),
);
