// GET /api/tdk/keys — list the caller's API keys with their wallets' balances
import { withSession } from "@/lib/http/handlers";
import { respond } from "@/lib/http/response";
import { keyListResponseSchema } from "@/lib/keys/schemas";

export const GET = withSession(async ({ services, session }) =>
  respond(keyListResponseSchema, { keys: await services.keys.list(session.account.id) }),
);
