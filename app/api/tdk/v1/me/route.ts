// GET /api/tdk/v1/me — the calling key itself: status, wallet and balances, spend limit, quota, rate limits
import { withApiKey } from "@/lib/http/handlers";
import { respond } from "@/lib/http/response";
import { meResponseSchema } from "@/lib/keys/schemas";

export const GET = withApiKey(async ({ services, key }) => respond(meResponseSchema, await services.keys.me(key)));
