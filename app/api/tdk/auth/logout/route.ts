// POST /api/tdk/auth/logout — revoke the current session
import { clearedSessionCookie } from "@/lib/auth/cookie";
import { logoutResponseSchema } from "@/lib/auth/schemas";
import { sessionToken, withSession } from "@/lib/http/handlers";
import { respond } from "@/lib/http/response";

export const POST = withSession(async ({ request, services }) => {
  const { token } = sessionToken(request);
  const response = respond(logoutResponseSchema, { revoked: token ? await services.accounts.logOut(token) : false });
  response.cookies.set(clearedSessionCookie());
  return response;
});
