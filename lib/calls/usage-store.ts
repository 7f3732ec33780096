import { createHash } from "node:crypto";
import { z } from "zod";
import { okResult, refusedResult } from "@/lib/db/results";
import { callFunction, type Database } from "@/lib/db";
import { microAmounts, summarySchemaWith } from "@/lib/usage/schemas";
import type { MoneyPolicy } from "@/lib/money/policy";
import type { CallOutcome } from "./outcome";
import { spendPeriods } from "@/lib/keys/schemas";
import { usageRowSchema, type CallBody, type UsageRow } from "./schemas";

/** The paid call's SQL functions, typed. Each is one atomic step. */

// Built once, not per call: zod 4 builds a schema's checks on its first parse, so a schema made
// per call costs that work on every call (issue 11's profile: about 4% of the request thread).
const okSchema = z.object({ ok: z.boolean() });
const paymentRecordedSchema = z.object({ ok: z.boolean(), code: z.string().optional() });
// Only whether it settled: a settled row carries the answer, which no caller reads back from here.
const settledSchema = z.object({ ok: z.boolean(), code: z.string().optional() });
const usageRowOrNone = usageRowSchema.nullable();
const usageRows = z.array(usageRowSchema);

/** Of the pending row a held reservation wrote, what the rest of the call reads: its id and tier. */
const reservedUsageSchema = usageRowSchema.pick({ id: true, tier: true });
export type ReservedUsage = z.infer<typeof reservedUsageSchema>;

const money = z.number().int();
export const reservationSchema = z.union([
  okResult({ usage: reservedUsageSchema, ops_this_month: z.number().int() }),
  // The key's status as the presented credential sees it (revoked once it is no longer the key's).
  refusedResult("key_inactive", { status: z.enum(["revoked", "suspended"]).optional(), reason: z.string().nullable().optional() }),
  refusedResult("idempotent_replay", { usage: usageRowSchema }),
  refusedResult("account_suspended", { reason: z.string() }),
  refusedResult("agent_unavailable", { retry_at: z.string() }),
  refusedResult("card_required"),
  refusedResult("quota_exceeded", { limit: z.number().int(), used: z.number().int() }),
  refusedResult("free_allowance_exhausted", {
    allowance_micro: money,
    spent_micro: money,
    required_micro: money,
    card_already_used: z.boolean(),
  }),
  refusedResult("agent_failure_cap_reached", {
    cap_micro: money,
    failed_today_micro: money,
    in_flight_micro: money,
    retry_at: z.string(),
  }),
  refusedResult("spend_limit_reached", {
    limit_micro: money,
    spent_micro: money,
    period: z.enum(spendPeriods),
    resets_at: z.string().nullable(),
  }),
  refusedResult("insufficient_balance", { available_micro: money, required_micro: money }),
]);
export type Reservation = z.infer<typeof reservationSchema>;

export interface ReserveArgs {
  keyId: string;
  /** The hash of the key presented: refused (key_inactive) unless it is still one of the key's. */
  keyHash: string;
  requestId: string;
  agentId: string;
  agentName: string;
  agentCostMicro: bigint;
  markupBps: number;
  developerCostMicro: bigint;
  idempotencyKey: string | null;
  requestHash: string;
}

const beginSchema = z.object({
  reservation: reservationSchema,
  /** The key's encrypted wallet secret, when the reservation holds: for the call's one signature. */
  wallet: z.object({ public_key: z.string(), secret_encrypted: z.string() }).nullable(),
  /** Whether the key has calls pending since before `staleBefore`: recovery has something to do. */
  stale_pending: z.boolean(),
});
export type BegunCall = z.infer<typeof beginSchema>;

/**
 * Step 6 in one round trip: the presented key's hash checked against the key's, every limit of
 * the policy checked and the pending row written (`tdk_reserve_call`), the encrypted wallet secret
 * when the reservation holds, and whether the key has calls left pending since before
 * `staleBefore`. Its commit does not wait for the disk: the payment's record, which does, comes
 * before anything leaves and makes it durable with it
 * (supabase/migrations/20261128002600_reservation_commit_unflushed.sql).
 */
export function beginPaidCall(db: Database, args: ReserveArgs, policy: MoneyPolicy, staleBefore: Date): Promise<BegunCall> {
  return callFunction(db, "tdk_begin_paid_call", { ...reserveParams(args, policy), p_stale_before: staleBefore }, beginSchema);
}

function reserveParams(args: ReserveArgs, policy: MoneyPolicy) {
  return {
    p_key_id: args.keyId,
    p_key_hash: args.keyHash,
    p_request_id: args.requestId,
    p_agent_id: args.agentId,
    p_agent_name: args.agentName,
    p_agent_cost_micro: args.agentCostMicro,
    p_markup_bps: args.markupBps,
    p_developer_cost_micro: args.developerCostMicro,
    p_idempotency_key: args.idempotencyKey,
    p_request_hash: args.requestHash,
    p_policy: policy,
  };
}

/** Records the signed payment before it leaves; refuses a signature another call already holds. */
export async function recordCallPayment(
  db: Database,
  usageId: string,
  payment: { paymentIntentId: string; txSignature: string; recentBlockhash: string; lastValidBlockHeight: number },
): Promise<{ ok: true } | { ok: false; code: "duplicate_signature" }> {
  const result = await callFunction(
    db,
    "tdk_record_call_payment",
    {
      p_usage_id: usageId,
      p_payment_intent_id: payment.paymentIntentId,
      p_tx_signature: payment.txSignature,
      p_recent_blockhash: payment.recentBlockhash,
      p_last_valid_block_height: payment.lastValidBlockHeight,
    },
    paymentRecordedSchema,
  );
  if (result.ok) return { ok: true };
  if (result.code === "duplicate_signature") return { ok: false, code: "duplicate_signature" };
  throw new Error(`Cannot record the payment of usage ${usageId}: ${result.code}`);
}

export interface Settlement {
  status: "succeeded" | "failed" | "agent_failed";
  txSignature?: string | null;
  receiptId?: string | null;
  error?: string | null;
  /** Stored on the row: idempotent replays are answered from it. */
  outcome: CallOutcome;
}

/**
 * Settles a pending call once; a second settlement of the same row changes nothing. The policy's
 * breaker settings apply to the agent when the call was paid.
 */
export async function settleCall(
  db: Database,
  usageId: string,
  settlement: Settlement,
  policy: MoneyPolicy,
): Promise<{ settled: boolean }> {
  const result = await callFunction(
    db,
    "tdk_settle_call",
    {
      p_usage_id: usageId,
      p_status: settlement.status,
      p_tx_signature: settlement.txSignature ?? null,
      p_receipt_id: settlement.receiptId ?? null,
      p_error: settlement.error?.slice(0, 1000) ?? null,
      p_response: settlement.outcome as unknown as Record<string, unknown>,
      p_policy: policy,
    },
    settledSchema,
  );
  return { settled: result.ok };
}

/**
 * Keeps what the marketplace answered on a row still pending (its payment not yet seen on the
 * chain): the receipt id, and the outcome to settle with once the payment lands.
 */
export async function recordCallResult(
  db: Database,
  usageId: string,
  result: { receiptId: string | null; outcome: CallOutcome | null },
): Promise<void> {
  await callFunction(
    db,
    "tdk_record_call_result",
    { p_usage_id: usageId, p_receipt_id: result.receiptId, p_response: result.outcome as unknown as Record<string, unknown> | null },
    okSchema,
  );
}

/** One call of one key, by its request id; null when the key has no such call. */
export async function getCall(db: Database, keyId: string, requestId: string): Promise<UsageRow | null> {
  return callFunction(db, "tdk_get_call", { p_key_id: keyId, p_request_id: requestId }, usageRowOrNone);
}

export function listPendingCalls(db: Database, keyId: string | null, olderThan: Date, limit = 100): Promise<UsageRow[]> {
  return callFunction(db, "tdk_list_pending_calls", { p_key_id: keyId, p_older_than: olderThan, p_limit: limit }, usageRows);
}

/** Same body, same hash: keys sorted, so key order never makes two requests differ. */
export function hashCallBody(body: CallBody): string {
  return createHash("sha256").update(canonicalJson(body)).digest("hex");
}

function canonicalJson(value: unknown): string {
  if (typeof value === "bigint") return JSON.stringify(value.toString());
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

export interface UsageScope {
  accountId: string;
  keyId: string | null;
}

/** A page of the scope's rows, newest first, strictly before (time, id): keyset paging. */
export function usageHistory(
  db: Database,
  scope: UsageScope,
  before: { time: string; id: string },
  limit: number,
  filters: UsageFilters = {},
): Promise<UsageRow[]> {
  return callFunction(
    db,
    "tdk_usage_history",
    {
      p_account_id: scope.accountId,
      p_key_id: scope.keyId,
      p_before_time: before.time,
      p_before_id: before.id,
      p_limit: limit,
      p_agent_id: filters.agentId ?? null,
      p_status: filters.status ?? null,
    },
    usageRows,
  );
}

/** The history's filters beyond the scope (key) and the range: one agent, one status. */
export interface UsageFilters {
  agentId?: string | null;
  status?: UsageRow["status"] | null;
}

const summarySchema = summarySchemaWith(microAmounts);
export type UsageSummary = z.infer<typeof summarySchema>;

/** The range's totals, by agent, by day: whole days from the daily roll-ups, the partial ends from the rows. */
export function usageSummaryOf(db: Database, scope: UsageScope, range: { from: Date; to: Date }): Promise<UsageSummary> {
  return callFunction(
    db,
    "tdk_usage_summary",
    { p_account_id: scope.accountId, p_key_id: scope.keyId, p_from: range.from, p_to: range.to },
    summarySchema,
  );
}

/** Agents cut off for failing after payment (their circuit open), with when they come back. */
export function openAgentBreakerRows(db: Database) {
  return callFunction(db, "tdk_open_agent_breakers", {}, z.array(z.object({ agent_id: z.string(), open_until: z.string() })));
}
