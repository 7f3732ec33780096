import Stripe from "stripe";
import type { Database } from "@/lib/db";
import { claimUsageBatches, completeUsageBatch, failUsageBatch, type UsageBatch } from "./billing-store";
import { logLine } from "@/lib/logger";

export type { UsageBatch } from "./billing-store";

/**
 * Reports settled usage to Stripe's Billing Meter, exactly once, as Stripe really behaves:
 *  1. claim: one SQL function moves every unreported billable row into a batch per customer and
 *     UTC hour of the calls (the batch id is chosen once and is the meter event's `identifier`;
 *     its timestamp is its latest call, so Stripe bills it in the period it belongs to); leftovers
 *     of earlier runs come back with it;
 *  2. send: one meter event per batch (value: the batch's developer cost in micro-USD), one
 *     request at a time per customer. The idempotency key changes with each attempt: Stripe keeps
 *     a 5xx under its key for 24 hours, so a retry under the same key would get the same 5xx all
 *     day. The identifier never changes, and Stripe answers a reused one with a 400 that carries
 *     no `code`: that answer means "already counted" and completes the batch;
 *  3. complete: rows are marked reported only after Stripe accepted the event.
 * Stripe remembers identifiers for about 24 hours only: a batch whose outcome stayed unknown (5xx,
 * network) that long is flagged for an operator, never resent blind (it could count twice). A
 * batch whose period was already invoiced is flagged too (Stripe would count it on no invoice).
 * Free-tier usage is recorded, never reported; usage older than Stripe accepts is flagged.
 */

export const METER_EVENT_MAX_AGE_DAYS = 35;
/** Batches older than this are flagged instead of sent: Stripe refuses events past 35 days. */
const SEND_MAX_AGE_MS = (METER_EVENT_MAX_AGE_DAYS * 24 - 1) * 3_600_000;
/** Stripe enforces identifier uniqueness for "at least 24 hours": past this, a resend could count twice. */
const IDENTIFIER_MEMORY_MS = 23 * 3_600_000;

export type ReportStep = "claimed" | "accepted";

export interface ReportDeps {
  db: Database;
  stripe: Stripe;
  meterEventName: string;
  /** Customers reported in parallel (each customer's batches strictly one at a time). */
  concurrency?: number;
  sleep?: (ms: number) => Promise<void>;
  /** Crash-injection seam for tests: runs after each step; throwing stops the run there. */
  afterStep?: (step: ReportStep, batch: UsageBatch | null) => void | Promise<void>;
  log?: (line: string) => void;
}

export interface ReportSummary {
  batches: number;
  reported: number;
  reported_micro: number;
  retry_later: number;
  flagged: number;
  flagged_rows: number;
  not_billable_rows: number;
}

const RATE_LIMIT_BACKOFF_MS = [250, 1_000, 4_000];

export async function reportUsage(deps: ReportDeps): Promise<ReportSummary> {
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const log = deps.log ?? logLine("warn");
  const claim = await claimUsageBatches(deps.db, METER_EVENT_MAX_AGE_DAYS);
  await deps.afterStep?.("claimed", null);
  const summary: ReportSummary = {
    batches: claim.batches.length,
    reported: 0,
    reported_micro: 0,
    retry_later: 0,
    flagged: 0,
    flagged_rows: claim.flagged,
    not_billable_rows: claim.not_billable,
  };
  if (claim.flagged > 0)
    log(`[tdk] ALERT usage: ${claim.flagged} settled calls are older than ${METER_EVENT_MAX_AGE_DAYS} days and were flagged, not reported`);

  const byCustomer = new Map<string, UsageBatch[]>();
  for (const batch of claim.batches)
    (byCustomer.get(batch.stripe_customer_id) ?? byCustomer.set(batch.stripe_customer_id, []).get(batch.stripe_customer_id)!).push(batch);
  const queues = [...byCustomer.values()];

  const fail = (batch: UsageBatch, error: string, flag: boolean) => failUsageBatch(deps.db, batch.id, error, flag);

  const sendCustomer = async (batches: UsageBatch[]) => {
    for (const batch of batches) {
      const unsendable = whyNotSend(batch);
      if (unsendable) {
        await fail(batch, unsendable, true);
        summary.flagged += 1;
        log(`[tdk] ALERT usage batch ${batch.id} of customer ${batch.stripe_customer_id} flagged, not sent: ${unsendable}`);
        continue;
      }
      const outcome = await sendBatch(deps, batch, sleep);
      if (outcome === "accepted") {
        await deps.afterStep?.("accepted", batch);
        await completeUsageBatch(deps.db, batch.id);
        summary.reported += 1;
        summary.reported_micro += batch.total_micro;
      } else if (outcome.kind === "permanent") {
        await fail(batch, outcome.message, true);
        summary.flagged += 1;
        log(`[tdk] ALERT usage batch ${batch.id} refused by Stripe and flagged: ${outcome.message}`);
      } else {
        await fail(batch, outcome.message, false);
        summary.retry_later += batches.length - batches.indexOf(batch);
        // Stop this customer's later batches too: they are sent in order, on the next run.
        return;
      }
    }
  };

  // A small pool over customers: never two requests for the same customer at once.
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(deps.concurrency ?? 4, queues.length) }, async () => {
      while (next < queues.length) await sendCustomer(queues[next++]!);
    }),
  );
  return summary;
}

/** Why a batch must go to an operator instead of Stripe; null when it can be sent. */
function whyNotSend(batch: UsageBatch): string | null {
  if (Date.now() - Date.parse(batch.event_timestamp) > SEND_MAX_AGE_MS)
    return `older than the ${METER_EVENT_MAX_AGE_DAYS} days Stripe accepts`;
  if (batch.missed_invoice) return "its billing period was already invoiced: Stripe would count it on no invoice; bill it by hand";
  // An earlier attempt's outcome is unknown and Stripe may have forgotten the identifier by now.
  if (batch.attempts > 0 && Date.now() - Date.parse(batch.created_at) > IDENTIFIER_MEMORY_MS) {
    return `unsent after ${batch.attempts} attempts and over 23 hours: Stripe may have counted it and no longer remembers its identifier; check the customer's meter event summaries`;
  }
  return null;
}

/**
 * Stripe's answer to a reused `identifier`: 400 `invalid_request_error` with no `code`, naming the
 * identifier. Our identifiers are batch ids, chosen once per batch: a reuse is this very batch.
 */
export function isIdentifierConflict(error: InstanceType<typeof Stripe.errors.StripeError>): boolean {
  if (!(error instanceof Stripe.errors.StripeInvalidRequestError) || error.statusCode !== 400) return false;
  if (error.code === "resource_already_exists") return true;
  return error.param === "identifier" || (/identifier/i.test(error.message) && /already|duplicate|exists|unique/i.test(error.message));
}

type SendOutcome = "accepted" | { kind: "permanent" | "retry"; message: string };

async function sendBatch(deps: ReportDeps, batch: UsageBatch, sleep: (ms: number) => Promise<void>): Promise<SendOutcome> {
  for (let attempt = 0; ; attempt += 1) {
    try {
      await deps.stripe.billing.meterEvents.create(
        {
          event_name: deps.meterEventName,
          payload: { stripe_customer_id: batch.stripe_customer_id, value: String(batch.total_micro) },
          identifier: batch.id,
          timestamp: Math.floor(Date.parse(batch.event_timestamp) / 1000),
        },
        // A new key per attempt (429s, which Stripe does not store, retry under the same one).
        { idempotencyKey: `${batch.id}:${batch.attempts}` },
      );
      return "accepted";
    } catch (error) {
      if (!(error instanceof Stripe.errors.StripeError)) return { kind: "retry", message: (error as Error).message };
      // Already counted under this identifier (an earlier run's request got through).
      if (isIdentifierConflict(error)) return "accepted";
      if (error instanceof Stripe.errors.StripeRateLimitError) {
        const delay = RATE_LIMIT_BACKOFF_MS[attempt];
        if (delay === undefined) return { kind: "retry", message: "rate limited by Stripe" };
        await sleep(delay);
        continue;
      }
      if (error instanceof Stripe.errors.StripeInvalidRequestError && error.statusCode === 400) {
        return { kind: "permanent", message: error.message };
      }
      return { kind: "retry", message: `${error.type}: ${error.message}` };
    }
  }
}
