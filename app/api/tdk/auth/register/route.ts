// POST /api/tdk/auth/register — create a developer account
import { registerAccount } from "@/lib/auth/accounts";
import { authLimits } from "@/lib/ratelimit/policies";
import { registerSchema } from "@/lib/auth/schemas";
import { ApiError } from "@/lib/http/errors";
import { withPublic } from "@/lib/http/handlers";
import { clientIp, readJson } from "@/lib/http/request";
import { json } from "@/lib/http/response";

export const POST = withPublic(async ({ request, app, limit }) => {
  await limit(authLimits.registerPerIp, clientIp(request.headers, app.env.trustedProxyHops));
  const { email, password } = await readJson(request, registerSchema);
  await limit(authLimits.registerPerEmail, email);

  const result = await registerAccount(app.db, email, password);
  if (!result.ok) throw new ApiError("email_taken", "An account with this email already exists. Log in instead.");
  return json({ account: result.account }, { status: 201 });
});
