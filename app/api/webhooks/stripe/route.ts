// POST /api/webhooks/stripe — Stripe events: signature checked on the raw body, each event claimed and processed once
import { handleStripeWebhook } from "@/lib/billing/webhooks";
import { ApiError } from "@/lib/http/errors";
import { withPublic } from "@/lib/http/handlers";
import { json } from "@/lib/http/response";

export const dynamic = "force-dynamic";

export const POST = withPublic(async ({ request, app }) => {
  if (!app.stripe || !app.env.stripe) throw new ApiError("service_unavailable", "Billing is not configured.");
  // The signature covers the exact bytes Stripe sent: read them raw, never re-serialised JSON.
  const rawBody = await request.text();
  if (rawBody.length > 1_000_000) throw new ApiError("payload_too_large", "Webhook body too large.");
  const result = await handleStripeWebhook(
    { db: app.db, stripe: app.stripe, webhookSecret: app.env.stripe.webhookSecret, prices: app.env.stripe.prices },
    rawBody,
    request.headers.get("stripe-signature"),
  );
  if (!result.ok) {
    if (result.code === "in_progress")
      throw new ApiError("conflict", `Event ${result.event_id} is being processed by another delivery; deliver it again later.`);
    throw new ApiError("invalid_signature", `Webhook signature verification failed: ${result.message}`);
  }
  return json({ received: true, id: result.event_id, outcome: result.outcome });
});
