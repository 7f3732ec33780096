import type Stripe from "stripe";
import type { Database } from "@/lib/db";
import { customerOfAccount } from "./customers";

/**
 * Stripe's Billing Portal for the account: cancel the plan, change the card, see invoices. Its
 * changes come back through the subscription webhooks.
 */
export async function createPortalSession(
  deps: { db: Database; stripe: Stripe; appUrl: string },
  accountId: string,
): Promise<{ ok: true; url: string } | { ok: false; code: "account_not_found" }> {
  const customer = await customerOfAccount(deps.db, deps.stripe, accountId);
  if (!customer) return { ok: false, code: "account_not_found" };
  const session = await deps.stripe.billingPortal.sessions.create({ customer, return_url: `${deps.appUrl}/dashboard` });
  return { ok: true, url: session.url };
}
