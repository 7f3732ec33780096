import type Stripe from "stripe";
import { applySubscription } from "./subscription";
import type { WebhookHandler } from "./types";

/** Subscription gone: back to the free tier. */
export const customerSubscriptionDeleted: WebhookHandler<Stripe.Subscription> = (subscription, deps) => applySubscription(subscription, deps, "deleted");
