// Creates (idempotently) the Stripe Billing Meter, product and metered prices, and prints the ids
// to put in the environment. Safe to run again: it finds what exists instead of duplicating it.
//
//   STRIPE_SECRET_KEY=sk_... npm run setup-stripe
import Stripe from "stripe";
import { setupStripe } from "@/lib/billing/setup";

async function main() {
  const secretKey = process.env.STRIPE_SECRET_KEY;
  if (!secretKey) throw new Error("Set STRIPE_SECRET_KEY.");
  const eventName = process.env.STRIPE_METER_EVENT_NAME || "tdk_usage_micro";
  const stripe = new Stripe(secretKey, { maxNetworkRetries: 2, telemetry: false });
  const result = await setupStripe(stripe, eventName);
  console.log(result.created.length ? `Created: ${result.created.join(", ")}` : "Everything already existed.");
  console.log(`STRIPE_METER_EVENT_NAME=${eventName}`);
  console.log(`STRIPE_PRICE_PAID=${result.prices.paid}`);
  console.log(`STRIPE_PRICE_PRO=${result.prices.pro}`);
  console.log(`# meter ${result.meterId}, product ${result.productId}`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
