import type Stripe from "stripe";
import type { Database } from "@/lib/db";
import { type BillingAccount, getBillingAccount, setStripeCustomer } from "./billing-store";

export { type BillingAccount, billingAccountSchema, getBillingAccount } from "./billing-store";

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
  return setStripeCustomer(db, account.id, customer.id);
}

/** The account's Stripe customer, created on first need; null when the account does not exist. */
export async function customerOfAccount(db: Database, stripe: Stripe, accountId: string): Promise<string | null> {
  const account = await getBillingAccount(db, accountId);
  return account ? ensureStripeCustomer(db, stripe, account) : null;
}
