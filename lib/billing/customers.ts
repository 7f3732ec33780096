import type Stripe from "stripe";
import { z } from "zod";
import { callFunction, type Database } from "@/lib/db";

export const billingAccountSchema = z.object({
  id: z.string().uuid(),
  email: z.string(),
  tier: z.enum(["free", "paid", "pro"]),
  stripe_customer_id: z.string().nullable(),
  stripe_subscription_id: z.string().nullable(),
  subscription_status: z.string().nullable(),
  suspended_reason: z.string().nullable(),
  card_verified: z.boolean(),
  free_allowance: z.boolean(),
});
export type BillingAccount = z.infer<typeof billingAccountSchema>;

export function getBillingAccount(db: Database, accountId: string): Promise<BillingAccount | null> {
  return callFunction(db, "tdk_get_billing_account", { p_account_id: accountId }, billingAccountSchema.nullable());
}

/**
 * The account's Stripe customer, created the first time it is needed. The idempotency key makes
 * two concurrent first times create one customer; the database keeps the first id it is given.
 */
export async function ensureStripeCustomer(db: Database, stripe: Stripe, account: BillingAccount): Promise<string> {
  if (account.stripe_customer_id) return account.stripe_customer_id;
  const customer = await stripe.customers.create(
    { email: account.email, metadata: { tdk_account_id: account.id } },
    { idempotencyKey: `tdk-customer-${account.id}` },
  );
  const stored = await callFunction(
    db,
    "tdk_set_stripe_customer",
    { p_account_id: account.id, p_customer_id: customer.id },
    z.object({ stripe_customer_id: z.string() }),
  );
  return stored.stripe_customer_id;
}

/** The account's Stripe customer, created on first need; null when the account does not exist. */
export async function customerOfAccount(db: Database, stripe: Stripe, accountId: string): Promise<string | null> {
  const account = await getBillingAccount(db, accountId);
  return account ? ensureStripeCustomer(db, stripe, account) : null;
}
