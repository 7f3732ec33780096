// POST /api/tdk/billing/portal — a Stripe Billing Portal session: cancel the plan, change the card, see invoices
import { stripeUrlResponseSchema } from "@/lib/billing/schemas";
import { withSession } from "@/lib/http/handlers";
import { respond } from "@/lib/http/response";

export const POST = withSession(async ({ services, session, origin }) =>
  respond(stripeUrlResponseSchema, { url: await services.billing.portal(session.account.id, origin) }),
);
