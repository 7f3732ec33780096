import type Stripe from "stripe";
import { applySubscriptionState, currentSubscription } from "../subscriptions";
import type { WebhookDeps } from "./types";

/**
 * A subscription event: the subscription is read back from Stripe and its current state applied,
 * so events that arrive late or out of order (a stale `updated(active)` after `deleted`) cannot
 * bring back a state Stripe has left. One Stripe no longer knows is applied as canceled.
 */
export async function syncSubscription(subscription: Stripe.Subscription, deps: WebhookDeps) {
  const current = (await currentSubscription(deps.stripe, subscription.id)) ?? { ...subscription, status: "canceled" as const };
  const result = await applySubscriptionState(deps.db, current, deps.prices);
  if (!result.ok) deps.log?.(`[tdk] subscription ${subscription.id}: ${result.code}`);
}
