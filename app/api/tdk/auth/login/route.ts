// POST /api/tdk/auth/login — exchange email and password for a session
import { loginSchema, sessionResponseSchema } from "@/lib/auth/schemas";
import { sessionCookie } from "@/lib/auth/cookie";
import { withPublic } from "@/lib/http/handlers";
import { clientIp, readJson } from "@/lib/http/request";
import { respond } from "@/lib/http/response";
import { authLimits } from "@/lib/ratelimit/policies";

export const POST = withPublic(async ({ request, app, services, limit }) => {
  await limit(authLimits.loginPerIp, clientIp(request.headers, app.env.trustedProxyHops));
  const { email, password } = await readJson(request, loginSchema);
  await limit(authLimits.loginPerEmail, email);

  const session = await services.accounts.logIn(email, password);
  const response = respond(sessionResponseSchema, { session_token: session.token, expires_at: session.expiresAt.toISOString() });
  response.cookies.set(sessionCookie(session.token, session.expiresAt));
  return response;
});
