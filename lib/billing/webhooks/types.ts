import type Stripe from "stripe";
import type { Database } from "@/lib/db";

export interface WebhookDeps {
  db: Database;
  prices: { paid: string | null; pro: string | null };
  log?: (line: string) => void;
}

export type WebhookHandler<T = unknown> = (object: T, deps: WebhookDeps, event: Stripe.Event) => Promise<void>;

/** An id field that Stripe may send expanded (an object) or not (a string). */
export function idOf(value: string | { id: string } | null | undefined): string | null {
  if (!value) return null;
  return typeof value === "string" ? value : value.id;
}
