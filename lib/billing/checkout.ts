import type Stripe from "stripe";
import { z } from "zod";
import type { Database } from "@/lib/db";
import { ensureStripeCustomer, getBillingAccount } from "./customers";

export const checkoutSchema = z.object({ tier: z.enum(["paid", "pro"]).default("paid") }).strict();

export type CheckoutResult =
  | { ok: true; url: string }
  | { ok: false; code: "account_not_found" | "price_not_configured" | "already_subscribed" };

/** A Stripe Checkout session for a metered subscription; the webhook sets the tier when it completes. */
export async function createCheckoutSession(
  deps: { db: Database; stripe: Stripe; prices: { paid: string | null; pro: string | null }; appUrl: string },
  accountId: string,
  tier: "paid" | "pro",
): Promise<CheckoutResult> {
  const price = deps.prices[tier];
  if (!price) return { ok: false, code: "price_not_configured" };
  const account = await getBillingAccount(deps.db, accountId);
  if (!account) return { ok: false, code: "account_not_found" };
  if (account.tier === tier && account.stripe_subscription_id) return { ok: false, code: "already_subscribed" };
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
  return { ok: true, url: session.url };
}
