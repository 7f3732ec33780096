// POST /api/tdk/auth/login — exchange email and password for a session
import { logIn } from "@/lib/auth/accounts";
import { sessionCookie } from "@/lib/auth/cookie";
import { authLimits } from "@/lib/ratelimit/policies";
import { loginSchema } from "@/lib/auth/schemas";
import { ApiError } from "@/lib/http/errors";
import { withPublic } from "@/lib/http/handlers";
import { clientIp, readJson } from "@/lib/http/request";
import { json } from "@/lib/http/response";

export const POST = withPublic(async ({ request, app, limit }) => {
  await limit(authLimits.loginPerIp, clientIp(request.headers, app.env.trustedProxyHops));
  const { email, password } = await readJson(request, loginSchema);
  await limit(authLimits.loginPerEmail, email);

  const result = await logIn(app.db, email, password, app.env.sessionTtlMs);
  if (!result.ok) throw new ApiError("invalid_credentials", "Email or password is incorrect.");

  const response = json({ session_token: result.token, expires_at: result.expiresAt.toISOString() });
  response.cookies.set(sessionCookie(result.token, result.expiresAt));
  return response;
});
