import Stripe from "stripe";

/**
 * Creates, once, what usage billing needs in Stripe: a Billing Meter summing micro-USD values per
 * customer, a product, and a metered monthly price per paid tier attached to the meter (1 unit =
 * 1 micro-USD = 0.0001 cent). Found again by event name and lookup keys on every later run.
 */
export interface StripeSetup {
  meterId: string;
  productId: string;
  prices: { paid: string; pro: string };
  created: string[];
}

export const PRICE_LOOKUP_KEYS = { paid: "tdk_paid_metered_micro_usd", pro: "tdk_pro_metered_micro_usd" } as const;

export async function setupStripe(stripe: Stripe, meterEventName: string): Promise<StripeSetup> {
  const created: string[] = [];
  const meters = await stripe.billing.meters.list({ limit: 100 });
  let meter = meters.data.find((candidate) => candidate.event_name === meterEventName && candidate.status === "active");
  if (!meter) {
    meter = await stripe.billing.meters.create(
      {
        display_name: "TDK gateway usage (micro-USD)",
        event_name: meterEventName,
        default_aggregation: { formula: "sum" },
        customer_mapping: { event_payload_key: "stripe_customer_id", type: "by_id" },
        value_settings: { event_payload_key: "value" },
      },
      { idempotencyKey: `tdk-setup-meter-${meterEventName}` },
    );
    created.push(`meter ${meter.id}`);
  }

  const existing = await stripe.prices.list({ lookup_keys: [PRICE_LOOKUP_KEYS.paid, PRICE_LOOKUP_KEYS.pro], limit: 10 });
  const byKey = new Map(existing.data.map((price) => [price.lookup_key, price]));
  let productId = [...byKey.values()][0] ? String([...byKey.values()][0]!.product) : null;
  if (!productId) {
    const product = await stripe.products.create(
      { name: "TDK gateway: agent calls", metadata: { tdk: "usage" } },
      { idempotencyKey: `tdk-setup-product-${meterEventName}` },
    );
    productId = product.id;
    created.push(`product ${product.id}`);
  }
  const prices = {} as StripeSetup["prices"];
  for (const tier of ["paid", "pro"] as const) {
    let price = byKey.get(PRICE_LOOKUP_KEYS[tier]);
    if (!price) {
      price = await stripe.prices.create(
        {
          product: productId,
          currency: "usd",
          lookup_key: PRICE_LOOKUP_KEYS[tier],
          nickname: `TDK ${tier} tier, metered`,
          billing_scheme: "per_unit",
          // 1 unit = 1 micro-USD = 0.0001 cent.
          unit_amount_decimal: Stripe.Decimal.from("0.0001"),
          recurring: { interval: "month", usage_type: "metered", meter: meter.id },
        },
        { idempotencyKey: `tdk-setup-price-${tier}-${meter.id}` },
      );
      created.push(`price ${price.id}`);
    }
    prices[tier] = price.id;
  }
  return { meterId: meter.id, productId, prices, created };
}
