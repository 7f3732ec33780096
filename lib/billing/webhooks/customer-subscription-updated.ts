import type Stripe from "stripe";
import { applySubscription } from "./subscription";
import type { WebhookHandler } from "./types";

/** The tier follows the subscription's status (active, trialing, past_due keep it). */
export const customerSubscriptionUpdated: WebhookHandler<Stripe.Subscription> = (subscription, deps) =>
  applySubscription(subscription, deps, subscription.status);
