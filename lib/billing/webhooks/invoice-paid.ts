import type Stripe from "stripe";
import { recordPeriod, setPaymentSuspension } from "./invoice";
import type { WebhookHandler } from "./types";

/** Paid: the period is paid, and the account's suspension for a failed payment is lifted. */
export const invoicePaid: WebhookHandler<Stripe.Invoice> = async (invoice, { db }) => {
  await recordPeriod(db, invoice, "paid");
  await setPaymentSuspension(db, invoice, false);
};
