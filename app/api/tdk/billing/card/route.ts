// POST /api/tdk/billing/card — a Stripe Checkout session (setup mode) to save a card and verify the free tier
import { createCardSetupSession } from "@/lib/billing/card";
import { ApiError } from "@/lib/http/errors";
import { withSession } from "@/lib/http/handlers";
import { expectedOrigin } from "@/lib/http/request";
import { json } from "@/lib/http/response";

export const POST = withSession(async ({ request, app, session }) => {
  if (!app.stripe) throw new ApiError("service_unavailable", "Billing is not configured on this gateway: no card is needed.");
  const result = await createCardSetupSession(
    { db: app.db, stripe: app.stripe, appUrl: expectedOrigin(request, app.env.appUrl) ?? "http://localhost:3000" },
    session.account.id,
  );
  if (!result.ok) throw new ApiError("unauthorized", "The account of this session no longer exists.");
  return json({ url: result.url });
});
