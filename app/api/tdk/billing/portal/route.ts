// POST /api/tdk/billing/portal — a Stripe Billing Portal session: cancel the plan, change the card, see invoices
import { createPortalSession } from "@/lib/billing/portal";
import { ApiError } from "@/lib/http/errors";
import { withSession } from "@/lib/http/handlers";
import { expectedOrigin } from "@/lib/http/request";
import { json } from "@/lib/http/response";

export const POST = withSession(async ({ request, app, session }) => {
  if (!app.stripe) throw new ApiError("service_unavailable", "Billing is not configured on this gateway.");
  const result = await createPortalSession(
    { db: app.db, stripe: app.stripe, appUrl: expectedOrigin(request, app.env.appUrl) ?? "http://localhost:3000" },
    session.account.id,
  );
  if (!result.ok) throw new ApiError("unauthorized", "The account of this session no longer exists.");
  return json({ url: result.url });
});
