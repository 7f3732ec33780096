import type Stripe from "stripe";
import { syncSubscription } from "./subscription";
import type { WebhookHandler } from "./types";

/** The tier follows the subscription's current status (active, trialing, past_due keep it). */
export const customerSubscriptionUpdated: WebhookHandler<Stripe.Subscription> = (subscription, deps) =>
  syncSubscription(subscription, deps);
