import type Stripe from "stripe";
import { getBillingAccount } from "../customers";
import { recordCardFingerprint, verifyCardFromSetupIntent } from "../card";
import { applySubscriptionState, currentSubscription, idOf, LIVE_SUBSCRIPTION_STATUSES } from "../subscriptions";
import type { WebhookHandler } from "./types";

/**
 * Checkout finished.
 *  - setup mode: the account saved a card; its fingerprint (read back from Stripe) verifies the
 *    free tier, one free allowance per card.
 *  - subscription mode: the subscription (read back from Stripe) sets the tier, and its card counts
 *    as verified. An account that already has a live subscription keeps it: the new one would bill
 *    the same usage twice, so it is canceled.
 */
export const checkoutSessionCompleted: WebhookHandler<Stripe.Checkout.Session> = async (session, deps) => {
  const { db, stripe, log } = deps;
  const accountId = session.client_reference_id ?? session.metadata?.tdk_account_id ?? null;
  if (!accountId) return void log?.(`[tdk] checkout.session.completed ${session.id} names no account: ignored`);

  if (session.mode === "setup") {
    const setupIntent = idOf(session.setup_intent);
    if (!setupIntent) return void log?.(`[tdk] checkout.session.completed ${session.id} (setup) without a setup intent: ignored`);
    const result = await verifyCardFromSetupIntent(deps, accountId, setupIntent);
    if (!result.verified) log?.(`[tdk] checkout.session.completed ${session.id}: card not recorded (${result.reason})`);
    return;
  }
  if (session.mode !== "subscription") return;

  const subscriptionId = idOf(session.subscription);
  if (!subscriptionId) return void log?.(`[tdk] checkout.session.completed ${session.id} without a subscription: ignored`);
  const subscription = await currentSubscription(stripe, subscriptionId, ["default_payment_method"]);
  if (!subscription) return void log?.(`[tdk] checkout.session.completed ${session.id}: subscription ${subscriptionId} not found`);

  const account = await getBillingAccount(db, accountId);
  if (!account) return void log?.(`[tdk] checkout.session.completed ${session.id}: account not found`);
  if (
    account.stripe_subscription_id &&
    account.stripe_subscription_id !== subscription.id &&
    account.subscription_status &&
    LIVE_SUBSCRIPTION_STATUSES.has(account.subscription_status) &&
    LIVE_SUBSCRIPTION_STATUSES.has(subscription.status)
  ) {
    await stripe.subscriptions.cancel(subscription.id);
    log?.(
      `[tdk] ALERT account ${account.id} completed a second checkout: duplicate subscription ${subscription.id} canceled, ${account.stripe_subscription_id} kept`,
    );
    return;
  }
  const result = await applySubscriptionState(db, subscription, deps.prices, account.id);
  if (!result.ok) log?.(`[tdk] checkout.session.completed ${session.id}: ${result.code}`);

  const method = subscription.default_payment_method;
  const fingerprint = method && typeof method === "object" ? method.card?.fingerprint : null;
  if (fingerprint) await recordCardFingerprint(db, account.id, fingerprint);
};
