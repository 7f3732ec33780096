// POST /api/tdk/billing/checkout — move to a paid tier: Stripe Checkout, or a price change on the account's one subscription
import { changePlan, checkoutSchema } from "@/lib/billing/checkout";
import { ApiError } from "@/lib/http/errors";
import { withSession } from "@/lib/http/handlers";
import { expectedOrigin, readJson } from "@/lib/http/request";
import { json } from "@/lib/http/response";

export const POST = withSession(async ({ request, app, session }) => {
  const { tier } = await readJson(request, checkoutSchema, { optional: true });
  if (!app.stripe || !app.env.stripe) throw new ApiError("service_unavailable", "Billing is not configured on this gateway.");
  const result = await changePlan(
    {
      db: app.db,
      stripe: app.stripe,
      prices: app.env.stripe.prices,
      appUrl: expectedOrigin(request, app.env.appUrl) ?? "http://localhost:3000",
    },
    session.account.id,
    tier,
  );
  if (!result.ok) {
    if (result.code === "already_subscribed") throw new ApiError("conflict", `This account is already on the ${tier} tier.`);
    if (result.code === "price_not_configured")
      throw new ApiError("service_unavailable", `No Stripe price is configured for the ${tier} tier.`);
    throw new ApiError("unauthorized", "The account of this session no longer exists.");
  }
  return json(result.action === "checkout" ? { action: "checkout", url: result.url } : { action: "updated", tier: result.tier });
});
