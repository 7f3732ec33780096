import Stripe from "stripe";
import * as webhook from "@/app/api/webhooks/stripe/route";
import { callRoute } from "./app";

/** Stripe events as Stripe sends them: a JSON payload, signed with the endpoint's secret. */
const signer = new Stripe("sk_test_unused");
let counter = 0;

export function stripeEvent(type: string, object: Record<string, unknown>, options: { id?: string; created?: number } = {}): string {
  return JSON.stringify({
    id: options.id ?? `evt_test_${++counter}_${Date.now()}`,
    object: "event",
    type,
    api_version: "2025-01-01",
    created: options.created ?? Math.floor(Date.now() / 1000),
    livemode: false,
    data: { object },
  });
}

/** POSTs a payload to the webhook route with a valid signature (or the one given, or none). */
export function deliverWebhook(payload: string, secret: string, options: { timestamp?: number; signature?: string | null } = {}) {
  const signature =
    options.signature !== undefined
      ? options.signature
      : signer.webhooks.generateTestHeaderString({ payload, secret, timestamp: options.timestamp });
  return callRoute(webhook.POST, "POST", "/api/webhooks/stripe", {
    rawBody: payload,
    headers: { "content-type": "application/json", ...(signature ? { "stripe-signature": signature } : {}) },
  });
}

export function signWebhook(payload: string, secret: string): string {
  return signer.webhooks.generateTestHeaderString({ payload, secret });
}
