import type Stripe from "stripe";
import { z } from "zod";
import { paidTierSchema } from "@/lib/auth/schemas";
import type { Database } from "@/lib/db";
import { ensureStripeCustomer, getBillingAccount } from "./customers";
import {
  applySubscriptionState,
  currentSubscription,
  LIVE_SUBSCRIPTION_STATUSES,
  tierItem,
  type PaidTier,
  type TierPrices,
} from "./subscriptions";

export const checkoutSchema = z.object({ tier: paidTierSchema.default("paid") }).strict();

export type PlanChange =
  | { ok: true; action: "checkout"; url: string }
  | { ok: true; action: "updated"; tier: PaidTier }
  | { ok: false; code: "account_not_found" | "price_not_configured" | "already_subscribed" };

export interface PlanDeps {
  db: Database;
  stripe: Stripe;
  prices: TierPrices;
  appUrl: string;
}

/**
 * Moves the account to a paid tier. An account with a live subscription keeps that one
 * subscription: its price changes (with proration) and the tier follows at once; opening a second
 * subscription on the same meter would invoice the usage twice. Without one, a Stripe Checkout
 * session for the tier's metered price; the webhook sets the tier when it completes.
 */
export async function changePlan(deps: PlanDeps, accountId: string, tier: PaidTier): Promise<PlanChange> {
  const price = deps.prices[tier];
  if (!price) return { ok: false, code: "price_not_configured" };
  const account = await getBillingAccount(deps.db, accountId);
  if (!account) return { ok: false, code: "account_not_found" };

  const subscription = account.stripe_subscription_id ? await currentSubscription(deps.stripe, account.stripe_subscription_id) : null;
  if (subscription && LIVE_SUBSCRIPTION_STATUSES.has(subscription.status)) {
    const item = tierItem(subscription, deps.prices);
    if (!item) throw new Error(`Subscription ${subscription.id} has no item`);
    if (item.price?.id === price) return { ok: false, code: "already_subscribed" };
    const updated = await deps.stripe.subscriptions.update(subscription.id, {
      items: [{ id: item.id, price }],
      proration_behavior: "create_prorations",
      metadata: { ...subscription.metadata, tdk_account_id: account.id, tier },
    });
    await applySubscriptionState(deps.db, updated, deps.prices, account.id);
    return { ok: true, action: "updated", tier };
  }

  const customer = await ensureStripeCustomer(deps.db, deps.stripe, account);
  const session = await deps.stripe.checkout.sessions.create({
    mode: "subscription",
    customer,
    // Metered price: no quantity, usage is reported through the Billing Meter.
    line_items: [{ price }],
    client_reference_id: account.id,
    metadata: { tdk_account_id: account.id, tier },
    subscription_data: { metadata: { tdk_account_id: account.id, tier } },
    success_url: `${deps.appUrl}/keys?upgraded=1`,
    cancel_url: `${deps.appUrl}/keys`,
  });
  if (!session.url) throw new Error("Stripe returned a Checkout session without a URL");
  return { ok: true, action: "checkout", url: session.url };
}
