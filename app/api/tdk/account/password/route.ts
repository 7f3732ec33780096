// POST /api/tdk/account/password — change the password (the current one proves the owner); every other session is revoked
import { changePasswordSchema, passwordChangedResponseSchema } from "@/lib/auth/schemas";
import { withSession } from "@/lib/http/handlers";
import { readJson } from "@/lib/http/request";
import { respond } from "@/lib/http/response";
import { authLimits } from "@/lib/ratelimit/policies";

export const POST = withSession(async ({ request, services, session, limit }) => {
  const { current_password: current, new_password: next } = await readJson(request, changePasswordSchema);
  await limit(authLimits.passwordCheckPerAccount, session.account.id);
  const { sessions_revoked: revoked } = await services.accounts.changePassword(session, current, next);
  return respond(passwordChangedResponseSchema, { changed: true, sessions_revoked: revoked });
});
