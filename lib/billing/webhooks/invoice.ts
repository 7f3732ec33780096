import type Stripe from "stripe";
import type { Database } from "@/lib/db";
import { type PeriodStatus, setBillingSuspension, upsertBillingPeriod } from "../billing-store";
import { idOf } from "./types";

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
  return upsertBillingPeriod(db, {
    customerId: customer,
    invoiceId: invoice.id,
    subscriptionId: subscriptionOf(invoice),
    periodStart: new Date(invoice.period_start * 1000),
    periodEnd: new Date(Math.max(invoice.period_end, invoice.period_start + 1) * 1000),
    status,
    totalCostMicro: totalMicro < 0n ? 0n : totalMicro,
    hostedInvoiceUrl: invoice.hosted_invoice_url ?? null,
  });
}

/** Suspends the account for a failed payment, or lifts that suspension. */
export async function setPaymentSuspension(db: Database, invoice: Stripe.Invoice, suspend: boolean) {
  const customer = idOf(invoice.customer);
  if (!customer) return;
  await setBillingSuspension(db, customer, "payment_failed", suspend);
}
