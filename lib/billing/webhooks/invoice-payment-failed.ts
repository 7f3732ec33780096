import type Stripe from "stripe";
import { recordPeriod, setPaymentSuspension } from "./invoice";
import { idOf, type WebhookHandler } from "./types";

/** Payment failed: the account is suspended (reason payment_failed) until an invoice is paid. */
export const invoicePaymentFailed: WebhookHandler<Stripe.Invoice> = async (invoice, { db, log }) => {
  await recordPeriod(db, invoice, "payment_failed");
  await setPaymentSuspension(db, invoice, true);
  log?.(`[tdk] invoice ${invoice.id} payment failed: the account of customer ${idOf(invoice.customer)} is suspended`);
};
