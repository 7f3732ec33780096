import type Stripe from "stripe";
import { z } from "zod";
import { callFunction, type Database } from "@/lib/db";
import { idOf } from "./types";

type PeriodStatus = "open" | "paid" | "payment_failed";

/** Invoices carry their subscription at `parent.subscription_details` (newer API) or `subscription` (older). */
function subscriptionOf(invoice: Stripe.Invoice): string | null {
  const legacy = (invoice as unknown as { subscription?: string | { id: string } | null }).subscription;
  return idOf(invoice.parent?.subscription_details?.subscription ?? legacy ?? null);
}

/** Upserts the invoice's billing period with a status. */
export async function recordPeriod(db: Database, invoice: Stripe.Invoice, status: PeriodStatus) {
  const customer = idOf(invoice.customer);
  if (!customer || !invoice.id) return null;
  // Stripe amounts are in cents; one cent is 10,000 micro-USD.
  const totalMicro = BigInt(invoice.total ?? 0) * 10_000n;
  return callFunction(
    db,
    "tdk_upsert_billing_period",
    {
      p_customer_id: customer,
      p_invoice_id: invoice.id,
      p_subscription_id: subscriptionOf(invoice),
      p_period_start: new Date(invoice.period_start * 1000),
      p_period_end: new Date(Math.max(invoice.period_end, invoice.period_start + 1) * 1000),
      p_status: status,
      p_total_cost_micro: totalMicro < 0n ? 0n : totalMicro,
    },
    z.object({ ok: z.boolean(), code: z.string().optional() }),
  );
}

/** Suspends the account for a failed payment, or lifts that suspension. */
export async function setPaymentSuspension(db: Database, invoice: Stripe.Invoice, suspend: boolean) {
  const customer = idOf(invoice.customer);
  if (!customer) return;
  await callFunction(
    db,
    "tdk_set_billing_suspension",
    { p_customer_id: customer, p_reason: "payment_failed", p_suspend: suspend },
    z.unknown(),
  );
}
