import type Stripe from "stripe";
import type { Database } from "@/lib/db";
import type { TierPrices } from "../subscriptions";

export { idOf } from "../subscriptions";

export interface WebhookDeps {
  db: Database;
  /** Handlers read objects back from Stripe instead of trusting an event's (possibly stale) copy. */
  stripe: Stripe;
  prices: TierPrices;
  log?: (line: string) => void;
}

export type WebhookHandler<T = unknown> = (object: T, deps: WebhookDeps, event: Stripe.Event) => Promise<void>;
