// POST /api/tdk/auth/register — create a developer account
import { accountResponseSchema, registerSchema } from "@/lib/auth/schemas";
import { withPublic } from "@/lib/http/handlers";
import { clientIp, readJson } from "@/lib/http/request";
import { respond } from "@/lib/http/response";
import { authLimits } from "@/lib/ratelimit/policies";

export const POST = withPublic(async ({ request, app, services, limit }) => {
  await limit(authLimits.registerPerIp, clientIp(request.headers, app.env.trustedProxyHops));
  const { email, password } = await readJson(request, registerSchema);
  await limit(authLimits.registerPerEmail, email);

  const account = await services.accounts.register(email, password);
  return respond(accountResponseSchema, { account }, { status: 201 });
});
