// POST /api/tdk/auth/register — create a developer account, logged in: its session token and cookie
import { sessionCookie } from "@/lib/auth/cookie";
import { registeredResponseSchema, registerSchema } from "@/lib/auth/schemas";
import { withPublic } from "@/lib/http/handlers";
import { clientIp, readJson } from "@/lib/http/request";
import { respond } from "@/lib/http/response";
import { authLimits } from "@/lib/ratelimit/policies";

export const POST = withPublic(async ({ request, app, services, limit }) => {
  await limit(authLimits.registerPerIp, clientIp(request.headers, app.env.trustedProxyHops));
  const { email, password } = await readJson(request, registerSchema);
  await limit(authLimits.registerPerEmail, email);

  const { account, token, expiresAt } = await services.accounts.register(email, password);
  const response = respond(
    registeredResponseSchema,
    { account, session_token: token, expires_at: expiresAt.toISOString() },
    { status: 201 },
  );
  response.cookies.set(sessionCookie(token, expiresAt));
  return response;
});
