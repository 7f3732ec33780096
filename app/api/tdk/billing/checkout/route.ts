// POST /api/tdk/billing/checkout — move to a paid tier: Stripe Checkout, or a price change on the account's one subscription
import { checkoutSchema } from "@/lib/billing/checkout";
import { checkoutResponseSchema } from "@/lib/billing/schemas";
import { withSession } from "@/lib/http/handlers";
import { readJson } from "@/lib/http/request";
import { respond } from "@/lib/http/response";

export const POST = withSession(async ({ request, services, session, origin }) => {
  const { tier } = await readJson(request, checkoutSchema, { optional: true });
  return respond(checkoutResponseSchema, await services.billing.changePlan(session.account.id, tier, origin));
});
