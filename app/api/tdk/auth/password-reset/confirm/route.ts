// POST /api/tdk/auth/password-reset/confirm — a reset link's token and a new password: used once; every session is revoked
import { passwordResetResponseSchema, passwordResetSchema } from "@/lib/auth/schemas";
import { withPublic } from "@/lib/http/handlers";
import { clientIp, readJson } from "@/lib/http/request";
import { respond } from "@/lib/http/response";
import { authLimits } from "@/lib/ratelimit/policies";

export const POST = withPublic(async ({ request, app, services, limit }) => {
  await limit(authLimits.passwordResetConfirmPerIp, clientIp(request.headers, app.env.trustedProxyHops));
  const { token, new_password: password } = await readJson(request, passwordResetSchema);
  await services.accounts.resetPassword(token, password);
  return respond(passwordResetResponseSchema, { reset: true });
});
