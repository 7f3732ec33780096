import type Stripe from "stripe";
import type { Database } from "@/lib/db";
import { recordCardVerification } from "./billing-store";
import { customerOfAccount, getBillingAccount } from "./customers";
import { idOf } from "./subscriptions";
import { logLine } from "@/lib/logger";

/**
 * The free tier is card-verified when Stripe is on (seed 001, "Free Tier Requires Credit Card
 * Verification"): the account saves a card through Stripe Checkout in `setup` mode (nothing is
 * charged), and the card's fingerprint gives one free allowance — to the first account that used it.
 */
export async function createCardSetupSession(
  deps: { db: Database; stripe: Stripe; appUrl: string },
  accountId: string,
): Promise<{ ok: true; url: string } | { ok: false; code: "account_not_found" }> {
  const customer = await customerOfAccount(deps.db, deps.stripe, accountId);
  if (!customer) return { ok: false, code: "account_not_found" };
  const session = await deps.stripe.checkout.sessions.create({
    mode: "setup",
    customer,
    // Cards only: a card has a fingerprint, which is what one free allowance is tied to.
    allowed_payment_method_types: ["card"],
    client_reference_id: accountId,
    metadata: { tdk_account_id: accountId, purpose: "card_verification" },
    setup_intent_data: { metadata: { tdk_account_id: accountId } },
    success_url: `${deps.appUrl}/dashboard?card=saved`,
    cancel_url: `${deps.appUrl}/billing/card`,
  });
  if (!session.url) throw new Error("Stripe returned a Checkout session without a URL");
  return { ok: true, url: session.url };
}

/** Records a verified card for the account: the first account with a fingerprint owns its free allowance. */
export const recordCardFingerprint = recordCardVerification;

/**
 * A completed setup-mode Checkout: the card is read back from Stripe (the SetupIntent and its
 * payment method), never taken from the event, and only a succeeded setup of this account's own
 * customer counts.
 */
export async function verifyCardFromSetupIntent(
  deps: { db: Database; stripe: Stripe; log?: (line: string) => void },
  accountId: string,
  setupIntentId: string,
): Promise<{ verified: boolean; reason?: string }> {
  const log = deps.log ?? logLine("warn");
  const account = await getBillingAccount(deps.db, accountId);
  if (!account) return { verified: false, reason: "account_not_found" };
  const intent = await deps.stripe.setupIntents.retrieve(setupIntentId, { expand: ["payment_method"] });
  if (intent.status !== "succeeded") return { verified: false, reason: `setup intent ${intent.status}` };
  if (!account.stripe_customer_id || idOf(intent.customer) !== account.stripe_customer_id) {
    log(`[tdk] setup intent ${intent.id} does not belong to account ${account.id}'s customer: card not recorded`);
    return { verified: false, reason: "customer_mismatch" };
  }
  const method = intent.payment_method;
  const fingerprint = method && typeof method === "object" ? method.card?.fingerprint : null;
  if (!fingerprint) return { verified: false, reason: "no_card_fingerprint" };
  const recorded = await recordCardFingerprint(deps.db, account.id, fingerprint);
  return recorded.ok ? { verified: true } : { verified: false, reason: recorded.code };
}
