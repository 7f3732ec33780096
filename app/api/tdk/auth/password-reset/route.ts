// POST /api/tdk/auth/password-reset — mail a single-use reset link; the same answer whether the email has an account or not
import { passwordResetRequestSchema, resetRequestedResponseSchema } from "@/lib/auth/schemas";
import { withPublic } from "@/lib/http/handlers";
import { clientIp, readJson } from "@/lib/http/request";
import { respond } from "@/lib/http/response";
import { authLimits } from "@/lib/ratelimit/policies";

export const POST = withPublic(async ({ request, app, services, limit, origin }) => {
  await limit(authLimits.passwordResetPerIp, clientIp(request.headers, app.env.trustedProxyHops));
  const { email } = await readJson(request, passwordResetRequestSchema);
  await limit(authLimits.passwordResetPerEmail, email);
  await services.accounts.requestPasswordReset(email, origin);
  return respond(resetRequestedResponseSchema, { requested: true }, { status: 202 });
});
