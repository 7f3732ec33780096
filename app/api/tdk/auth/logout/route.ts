// POST /api/tdk/auth/logout — revoke the current session
import { revokeSession } from "@/lib/auth/sessions";
import { clearedSessionCookie } from "@/lib/auth/cookie";
import { sessionToken, withSession } from "@/lib/http/handlers";
import { json } from "@/lib/http/response";

export const POST = withSession(async ({ request, app }) => {
  const { token } = sessionToken(request);
  const revoked = token ? await revokeSession(app.db, token) : false;
  const response = json({ revoked });
  response.cookies.set(clearedSessionCookie());
  return response;
});
