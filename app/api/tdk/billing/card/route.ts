// POST /api/tdk/billing/card — a Stripe Checkout session (setup mode) to save a card and verify the free tier
import { stripeUrlResponseSchema } from "@/lib/billing/schemas";
import { withSession } from "@/lib/http/handlers";
import { respond } from "@/lib/http/response";

export const POST = withSession(async ({ services, session, origin }) =>
  respond(stripeUrlResponseSchema, { url: await services.billing.cardSetup(session.account.id, origin) }),
);
