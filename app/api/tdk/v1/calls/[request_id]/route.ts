// GET /api/tdk/v1/calls/{request_id} — one call of this key: its status, cost and, once it succeeded, the agent's output
import { withApiKey } from "@/lib/http/handlers";
import { respond } from "@/lib/http/response";
import { callResponseSchema } from "@/lib/usage/schemas";

export const GET = withApiKey<{ request_id: string }>(async ({ services, key, params }) =>
  respond(callResponseSchema, { call: await services.calls.get(key.key_id, params.request_id) }),
);
