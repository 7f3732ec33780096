import type Stripe from "stripe";
import { z } from "zod";
import { callFunction } from "@/lib/db";
import { idOf, type WebhookHandler } from "./types";

/** Checkout finished: store the customer and subscription, set the tier bought. */
export const checkoutSessionCompleted: WebhookHandler<Stripe.Checkout.Session> = async (session, { db, log }) => {
  if (session.mode !== "subscription") return;
  const accountId = session.client_reference_id ?? session.metadata?.tdk_account_id ?? null;
  const customer = idOf(session.customer);
  const tier = session.metadata?.tier === "pro" ? "pro" : "paid";
  if (!customer) return void log?.(`[tdk] checkout.session.completed ${session.id} without a customer: ignored`);
  const result = await callFunction(
    db,
    "tdk_apply_subscription",
    { p_customer_id: customer, p_account_id: accountId, p_subscription_id: idOf(session.subscription), p_status: "active", p_tier: tier },
    z.object({ ok: z.boolean(), code: z.string().optional() }),
  );
  if (!result.ok) log?.(`[tdk] checkout.session.completed ${session.id}: ${result.code}`);
};
