import type Stripe from "stripe";
import { z } from "zod";
import { callFunction } from "@/lib/db";
import { idOf, type WebhookDeps } from "./types";

/** The tier a subscription pays for: its metadata, else the configured price it holds. */
function tierOf(subscription: Stripe.Subscription, prices: WebhookDeps["prices"]): "paid" | "pro" {
  if (subscription.metadata?.tier === "pro" || subscription.metadata?.tier === "paid") return subscription.metadata.tier;
  const priceIds = subscription.items?.data?.map((item) => item.price?.id) ?? [];
  return prices.pro && priceIds.includes(prices.pro) ? "pro" : "paid";
}

/** Applies a subscription's state to its account: tier, status, ids. */
export async function applySubscription(subscription: Stripe.Subscription, deps: WebhookDeps, status: string) {
  const customer = idOf(subscription.customer);
  if (!customer) return;
  const result = await callFunction(
    deps.db,
    "tdk_apply_subscription",
    {
      p_customer_id: customer,
      p_account_id: subscription.metadata?.tdk_account_id ?? null,
      p_subscription_id: subscription.id,
      p_status: status,
      p_tier: tierOf(subscription, deps.prices),
    },
    z.object({ ok: z.boolean(), code: z.string().optional() }),
  );
  if (!result.ok) deps.log?.(`[tdk] subscription ${subscription.id}: ${result.code}`);
}

