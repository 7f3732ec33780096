// GET /api/tdk/account/audit — the account's audit log, newest first: keys created, rotated, revoked, limits changed, suspensions, sweeps
import { auditQuerySchema } from "@/lib/auth/schemas";
import { withSession } from "@/lib/http/handlers";
import { respond } from "@/lib/http/response";
import { auditResponseSchema } from "@/lib/ops/ops-store";

export const GET = withSession(async ({ request, services, session }) => {
  const query = auditQuerySchema.parse(Object.fromEntries(request.nextUrl.searchParams));
  const page = await services.accounts.auditLog(session.account.id, { beforeId: query.before ?? null, limit: query.limit });
  return respond(auditResponseSchema, { entries: page.entries, next_before: page.nextBeforeId });
});
