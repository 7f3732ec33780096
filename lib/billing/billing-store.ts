import { z } from "zod";
import { tierSchema } from "@/lib/auth/schemas";
import { callFunction, type Database } from "@/lib/db";
import { okResult } from "@/lib/db/results";

/** The billing domain's SQL functions, typed: accounts' Stripe side, Stripe events, billing periods, usage batches. */

export const billingAccountSchema = z.object({
  id: z.string().uuid(),
  email: z.string(),
  tier: tierSchema,
  stripe_customer_id: z.string().nullable(),
  stripe_subscription_id: z.string().nullable(),
  subscription_status: z.string().nullable(),
  suspended_reason: z.string().nullable(),
  card_verified: z.boolean(),
  free_allowance: z.boolean(),
});
export type BillingAccount = z.infer<typeof billingAccountSchema>;

export function getBillingAccount(db: Database, accountId: string): Promise<BillingAccount | null> {
  return callFunction(db, "tdk_get_billing_account", { p_account_id: accountId }, billingAccountSchema.nullable());
}

/** Stores the account's Stripe customer; the first id stored wins, and is returned. */
export async function setStripeCustomer(db: Database, accountId: string, customerId: string): Promise<string> {
  const stored = await callFunction(
    db,
    "tdk_set_stripe_customer",
    { p_account_id: accountId, p_customer_id: customerId },
    z.object({ stripe_customer_id: z.string() }),
  );
  return stored.stripe_customer_id;
}

/** Records a verified card for the account: the first account with a fingerprint owns its free allowance. */
export function recordCardVerification(db: Database, accountId: string, fingerprint: string) {
  return callFunction(
    db,
    "tdk_record_card_verification",
    { p_account_id: accountId, p_fingerprint: fingerprint },
    z.union([
      okResult({ account_id: z.string(), free_allowance: z.boolean(), card_reused: z.boolean() }),
      z.object({ ok: z.literal(false), code: z.string() }),
    ]),
  );
}

export function applySubscription(
  db: Database,
  args: { customerId: string; accountId: string | null; subscriptionId: string; status: string; tier: string | null },
) {
  return callFunction(
    db,
    "tdk_apply_subscription",
    {
      p_customer_id: args.customerId,
      p_account_id: args.accountId,
      p_subscription_id: args.subscriptionId,
      p_status: args.status,
      p_tier: args.tier,
    },
    z.object({ ok: z.boolean(), code: z.string().optional(), tier: tierSchema.optional(), ignored: z.string().optional() }),
  );
}

export type PeriodStatus = "open" | "paid" | "payment_failed";

export function upsertBillingPeriod(
  db: Database,
  args: {
    customerId: string;
    invoiceId: string;
    subscriptionId: string | null;
    periodStart: Date;
    periodEnd: Date;
    status: PeriodStatus;
    totalCostMicro: bigint;
    hostedInvoiceUrl: string | null;
  },
) {
  return callFunction(
    db,
    "tdk_upsert_billing_period",
    {
      p_customer_id: args.customerId,
      p_invoice_id: args.invoiceId,
      p_subscription_id: args.subscriptionId,
      p_period_start: args.periodStart,
      p_period_end: args.periodEnd,
      p_status: args.status,
      p_total_cost_micro: args.totalCostMicro,
      p_hosted_invoice_url: args.hostedInvoiceUrl,
    },
    z.object({ ok: z.boolean(), code: z.string().optional() }),
  );
}

/** Suspends the customer's account for `reason`, or lifts a suspension for that reason only. */
export async function setBillingSuspension(db: Database, customerId: string, reason: string, suspend: boolean): Promise<void> {
  await callFunction(db, "tdk_set_billing_suspension", { p_customer_id: customerId, p_reason: reason, p_suspend: suspend }, z.unknown());
}

const claimSchema = z.union([
  z.object({ claimed: z.literal(true) }),
  z.object({ claimed: z.literal(false), state: z.enum(["processed", "in_progress"]) }),
]);

/** Claims a Stripe event id before its handler runs: one delivery at a time, a processed one never again. */
export function claimStripeEvent(db: Database, eventId: string, type: string, staleAfterSeconds: number) {
  return callFunction(
    db,
    "tdk_claim_stripe_event",
    { p_event_id: eventId, p_type: type, p_stale_after_seconds: staleAfterSeconds },
    claimSchema,
  );
}

/** Ends a claim: processed, or released for the next delivery. */
export async function finishStripeEvent(db: Database, eventId: string, processed: boolean): Promise<void> {
  await callFunction(db, "tdk_finish_stripe_event", { p_event_id: eventId, p_processed: processed }, z.unknown());
}

const batchSchema = z.object({
  id: z.string(),
  account_id: z.string().uuid(),
  stripe_customer_id: z.string(),
  total_micro: z.number().int().nonnegative(),
  calls: z.number().int(),
  status: z.enum(["claimed", "reported", "flagged"]),
  attempts: z.number().int(),
  error: z.string().nullable(),
  created_at: z.string(),
  /** The meter event's timestamp: the batch's latest call. */
  event_timestamp: z.string(),
  /** The period this batch belongs to was already invoiced: Stripe would bill it on no invoice. */
  missed_invoice: z.boolean(),
});
export type UsageBatch = z.infer<typeof batchSchema>;

/** Moves every unreported billable row into a batch per customer and hour; leftovers of earlier runs come back with it. */
export function claimUsageBatches(db: Database, maxAgeDays: number) {
  return callFunction(
    db,
    "tdk_claim_usage_batches",
    { p_max_age: `${maxAgeDays} days` },
    z.object({ not_billable: z.number().int(), flagged: z.number().int(), batches: z.array(batchSchema) }),
  );
}

export async function completeUsageBatch(db: Database, batchId: string): Promise<void> {
  await callFunction(db, "tdk_complete_usage_batch", { p_batch_id: batchId }, z.unknown());
}

/** Records a failed send: kept for the next run, or flagged for good. */
export async function failUsageBatch(db: Database, batchId: string, error: string, flag: boolean): Promise<void> {
  await callFunction(db, "tdk_fail_usage_batch", { p_batch_id: batchId, p_error: error.slice(0, 500), p_flag: flag }, z.unknown());
}

export const billingPeriodSchema = z.object({
  stripe_invoice_id: z.string().nullable(),
  status: z.enum(["draft", "open", "paid", "payment_failed", "void", "uncollectible"]),
  period_start: z.string(),
  period_end: z.string(),
  total_operations: z.number().int(),
  total_cost_micro: z.number().int(),
  paid_at: z.string().nullable(),
  hosted_invoice_url: z.string().nullable(),
});
export type BillingPeriod = z.infer<typeof billingPeriodSchema>;

/** The account's billing periods (its invoices), newest first. */
export function listBillingPeriods(db: Database, accountId: string): Promise<BillingPeriod[]> {
  return callFunction(db, "tdk_list_billing_periods", { p_account_id: accountId }, z.array(billingPeriodSchema));
}

/** The account's billable usage since `from` (succeeded calls that are billed), and how much of it is reported to Stripe. */
export function billableUsage(db: Database, accountId: string, from: Date) {
  return callFunction(
    db,
    "tdk_billable_usage",
    { p_account_id: accountId, p_from: from },
    z.object({ calls: z.number().int(), billable_micro: z.number().int(), reported_micro: z.number().int() }),
  );
}
