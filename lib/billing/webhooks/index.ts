import type Stripe from "stripe";
import { claimStripeEvent, finishStripeEvent } from "../billing-store";
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

/** A claim older than this belongs to a run that died: the next delivery may take it over. */
const CLAIM_STALE_AFTER_SECONDS = 300;

export type WebhookResult =
  | { ok: true; event_id: string; type: string; outcome: "processed" | "duplicate" | "ignored" }
  | { ok: false; code: "invalid_signature"; message: string }
  | { ok: false; code: "in_progress"; event_id: string };

/**
 * Verifies the signature on the raw body (a bad or stale one changes nothing), then claims the
 * event id atomically before its handler runs: a replay of a processed event is a no-op, and a
 * concurrent delivery of one being processed is told so (409, Stripe delivers it again later), so
 * two deliveries never both run a handler. The claim is released when the handler fails, so the
 * next delivery runs it again.
 */
export async function handleStripeWebhook(
  deps: WebhookDeps & { webhookSecret: string },
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
  const claim = await claimStripeEvent(deps.db, event.id, event.type, CLAIM_STALE_AFTER_SECONDS);
  if (!claim.claimed) {
    return claim.state === "processed"
      ? { ok: true, event_id: event.id, type: event.type, outcome: "duplicate" }
      : { ok: false, code: "in_progress", event_id: event.id };
  }
  const handler = handlers[event.type] as WebhookHandler | undefined;
  try {
    if (handler) await handler(event.data.object, deps, event);
  } catch (error) {
    await finishStripeEvent(deps.db, event.id, false);
    throw error;
  }
  await finishStripeEvent(deps.db, event.id, true);
  return { ok: true, event_id: event.id, type: event.type, outcome: handler ? "processed" : "ignored" };
}

export const handledEventTypes = Object.keys(handlers);
