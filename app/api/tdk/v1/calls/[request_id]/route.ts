// GET /api/tdk/v1/calls/{request_id} — one call of this key: its status, cost and, once it succeeded, the agent's output
import { getCall } from "@/lib/calls/usage-store";
import { ApiError } from "@/lib/http/errors";
import { withApiKey } from "@/lib/http/handlers";
import { json } from "@/lib/http/response";
import { toCallView } from "@/lib/usage/usage";

export const GET = withApiKey<{ request_id: string }>(async ({ app, key, params }) => {
  const requestId = params.request_id;
  // Request ids are ours (req_…); anything longer is not one, and another key's call is not found either.
  const row = requestId.length <= 100 ? await getCall(app.db, key.key_id, requestId) : null;
  if (!row) throw new ApiError("not_found", "This key has no call with that request id.");
  return json({ call: toCallView(row) });
});
