// POST /api/webhooks/stripe — Stripe events: signature checked on the raw body, each event claimed and processed once
import { ApiError } from "@/lib/http/errors";
import { withPublic } from "@/lib/http/handlers";
import { readBoundedText } from "@/lib/http/request";
import { json } from "@/lib/http/response";

export const dynamic = "force-dynamic";

export const POST = withPublic(async ({ request, services }) => {
  if (!services.billing.enabled) throw new ApiError("service_unavailable", "Billing is not configured.");
  // The signature covers the exact bytes Stripe sent: read them raw, never re-serialised JSON.
  const rawBody = await readBoundedText(request, 1_000_000);
  const { id, outcome } = await services.billing.webhook(rawBody, request.headers.get("stripe-signature"));
  return json({ received: true, id, outcome });
});
