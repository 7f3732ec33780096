import type Stripe from "stripe";
import { recordPeriod } from "./invoice";
import type { WebhookHandler } from "./types";

/** A finalized invoice opens (or updates) its billing period. */
export const invoiceFinalized: WebhookHandler<Stripe.Invoice> = async (invoice, { db }) => {
  await recordPeriod(db, invoice, "open");
};
