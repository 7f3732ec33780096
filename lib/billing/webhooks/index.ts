import Stripe from "stripe";
import { z } from "zod";
import { callFunction } from "@/lib/db";
import { checkoutSessionCompleted } from "./checkout-session-completed";
import { customerSubscriptionDeleted } from "./customer-subscription-deleted";
import { customerSubscriptionUpdated } from "./customer-subscription-updated";
import { invoiceFinalized } from "./invoice-finalized";
import { invoicePaid } from "./invoice-paid";
import { invoicePaymentFailed } from "./invoice-payment-failed";
import type { WebhookDeps, WebhookHandler } from "./types";

/** One small handler per event type; anything else is acknowledged and ignored. */
const handlers: Record<string, WebhookHandler<never>> = {
  "checkout.session.completed": checkoutSessionCompleted,
  "customer.subscription.updated": customerSubscriptionUpdated,
  "customer.subscription.deleted": customerSubscriptionDeleted,
  "invoice.finalized": invoiceFinalized,
  "invoice.paid": invoicePaid,
  "invoice.payment_failed": invoicePaymentFailed,
};

export type WebhookResult =
  | { ok: true; event_id: string; type: string; outcome: "processed" | "duplicate" | "ignored" }
  | { ok: false; code: "invalid_signature"; message: string };

/**
 * Verifies the signature on the raw body (a bad or stale one changes nothing), processes each
 * event id once (a replay is a no-op), and records the event only after its handler succeeded, so
 * a failure is retried by Stripe's next delivery.
 */
export async function handleStripeWebhook(
  deps: WebhookDeps & { webhookSecret: string; stripe: Stripe },
  rawBody: string,
  signature: string | null,
): Promise<WebhookResult> {
  let event: Stripe.Event;
  try {
    if (!signature) throw new Error("No Stripe-Signature header");
    event = deps.stripe.webhooks.constructEvent(rawBody, signature, deps.webhookSecret);
  } catch (error) {
    return { ok: false, code: "invalid_signature", message: (error as Error).message.split("\n")[0]!.slice(0, 200) };
  }
  const seen = await callFunction(deps.db, "tdk_stripe_event_processed", { p_event_id: event.id }, z.object({ processed: z.boolean() }));
  if (seen.processed) return { ok: true, event_id: event.id, type: event.type, outcome: "duplicate" };
  const handler = handlers[event.type] as WebhookHandler | undefined;
  if (handler) await handler(event.data.object, deps, event);
  await callFunction(deps.db, "tdk_record_stripe_event", { p_event_id: event.id, p_type: event.type }, z.unknown());
  return { ok: true, event_id: event.id, type: event.type, outcome: handler ? "processed" : "ignored" };
}

export const handledEventTypes = Object.keys(handlers);
