import Stripe from "stripe";
import type { Database } from "@/lib/db";
import { applySubscription } from "./billing-store";

/** Statuses in which a subscription keeps its tier (and stays the account's one subscription). */
export const LIVE_SUBSCRIPTION_STATUSES = new Set(["active", "trialing", "past_due"]);

import type { PaidTier } from "@/lib/auth/schemas";

export type { PaidTier };
export interface TierPrices {
  paid: string | null;
  pro: string | null;
}

/** An id field that Stripe may send expanded (an object) or not (a string). */
export function idOf(value: string | { id: string } | null | undefined): string | null {
  if (!value) return null;
  return typeof value === "string" ? value : value.id;
}

/** The item of a subscription that carries one of our tier prices (a subscription has one). */
export function tierItem(subscription: Stripe.Subscription, prices: TierPrices): Stripe.SubscriptionItem | null {
  const items = subscription.items?.data ?? [];
  return items.find((item) => item.price?.id && (item.price.id === prices.paid || item.price.id === prices.pro)) ?? items[0] ?? null;
}

/** The tier a subscription pays for: the price it holds first (what Stripe bills), else its metadata. */
export function tierOf(subscription: Stripe.Subscription, prices: TierPrices): PaidTier {
  const price = tierItem(subscription, prices)?.price?.id ?? null;
  if (price && price === prices.pro) return "pro";
  if (price && price === prices.paid) return "paid";
  return subscription.metadata?.tier === "pro" ? "pro" : "paid";
}

/**
 * The subscription as Stripe has it now. Webhook events can arrive late and out of order; reading
 * the subscription back makes every handler apply the current state, never a stale one. A
 * subscription Stripe no longer knows is treated as canceled.
 */
export async function currentSubscription(
  stripe: Stripe,
  subscriptionId: string,
  expand: string[] = [],
): Promise<Stripe.Subscription | null> {
  try {
    return await stripe.subscriptions.retrieve(subscriptionId, expand.length > 0 ? { expand } : undefined);
  } catch (error) {
    if (error instanceof Stripe.errors.StripeInvalidRequestError && error.statusCode === 404) return null;
    throw error;
  }
}

/** Applies a subscription's state to its account (tier, status, suspension for past_due/unpaid). */
export async function applySubscriptionState(
  db: Database,
  subscription: Pick<Stripe.Subscription, "id" | "customer" | "status" | "metadata" | "items">,
  prices: TierPrices,
  accountId: string | null = null,
) {
  const customer = idOf(subscription.customer);
  if (!customer) return { ok: false as const, code: "no_customer" };
  return applySubscription(db, {
    customerId: customer,
    accountId: accountId ?? subscription.metadata?.tdk_account_id ?? null,
    subscriptionId: subscription.id,
    status: subscription.status,
    tier: tierOf(subscription as Stripe.Subscription, prices),
  });
}
