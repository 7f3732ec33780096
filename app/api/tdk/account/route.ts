// DELETE /api/tdk/account — delete the account: keys revoked, wallets swept, plan stopped, personal data erased, usage kept for the books
import { clearedSessionCookie } from "@/lib/auth/cookie";
import { accountDeletedResponseSchema, deleteAccountSchema } from "@/lib/auth/schemas";
import { withSession } from "@/lib/http/handlers";
import { readJson } from "@/lib/http/request";
import { respond } from "@/lib/http/response";
import { authLimits } from "@/lib/ratelimit/policies";

export const DELETE = withSession(async ({ request, services, session, limit }) => {
  const { password } = await readJson(request, deleteAccountSchema);
  await limit(authLimits.passwordCheckPerAccount, session.account.id);
  const deleted = await services.accounts.delete(session.account.id, password);
  const response = respond(accountDeletedResponseSchema, { deleted: true, ...deleted });
  response.cookies.set(clearedSessionCookie());
  return response;
});
