import type Stripe from "stripe";
import { syncSubscription } from "./subscription";
import type { WebhookHandler } from "./types";

/** Subscription gone: back to the free tier (read back from Stripe like every subscription event). */
export const customerSubscriptionDeleted: WebhookHandler<Stripe.Subscription> = (subscription, deps) =>
  syncSubscription(subscription, deps);
