import { z } from "zod";
import { callFunction, type Database } from "@/lib/db";
import type { Ledger } from "@/lib/solana/ledger";

/**
 * Reconciliation for a period, three ledgers against each other:
 *  - chain vs usage: every call recorded as paid has its payment confirmed on the chain, and no
 *    call recorded as not paid has one;
 *  - usage vs Stripe: every report batch's meter value equals the sum of its rows; billable
 *    settled usage is reported (or still in flight), never silently left out;
 *  - anything still pending is listed.
 */
const reconciliationSchema = z.object({
  usage: z.array(
    z.object({
      id: z.string(),
      status: z.enum(["pending", "succeeded", "failed", "agent_failed"]),
      billing_status: z.enum(["unreported", "claimed", "reported", "not_billable", "flagged"]),
      tier: z.enum(["free", "paid", "pro"]),
      tx_signature: z.string().nullable(),
      agent_cost_micro: z.number().int(),
      developer_cost_micro: z.number().int(),
      batch_id: z.string().nullable(),
      created_at: z.string(),
    }),
  ),
  batches: z.array(
    z.object({ id: z.string(), status: z.string(), stripe_customer_id: z.string(), total_micro: z.number().int(), calls: z.number().int(), rows_micro: z.number().int(), rows: z.number().int() }),
  ),
});

export interface Difference {
  kind:
    | "paid_in_usage_not_on_chain"
    | "paid_on_chain_not_in_usage"
    | "batch_total_mismatch"
    | "reported_not_in_batch"
    | "billable_not_reported"
    | "flagged_for_operator"
    | "pending";
  id: string;
  detail: string;
}

export interface ReconciliationReport {
  from: string;
  to: string;
  calls: number;
  paid_on_chain_micro: number;
  billable_developer_micro: number;
  reported_micro: number;
  in_flight_micro: number;
  differences: Difference[];
}

export async function reconcile(db: Database, ledger: Ledger, range: { from: Date; to: Date }, options: { graceMs?: number } = {}): Promise<ReconciliationReport> {
  const data = await callFunction(db, "tdk_reconciliation", { p_from: range.from, p_to: range.to }, reconciliationSchema);
  const differences: Difference[] = [];
  let paidOnChain = 0;
  let billable = 0;
  let reported = 0;
  let inFlight = 0;
  const grace = options.graceMs ?? 2 * 3_600_000;

  for (const row of data.usage) {
    const onChain = row.tx_signature ? await ledger.getSignatureStatus(row.tx_signature) : "unknown";
    const recordedPaid = row.status === "succeeded" || row.status === "agent_failed";
    if (onChain === "confirmed") paidOnChain += row.agent_cost_micro;
    if (recordedPaid && onChain !== "confirmed") {
      differences.push({ kind: "paid_in_usage_not_on_chain", id: row.id, detail: `${row.status} with ${row.tx_signature ?? "no signature"} (${onChain} on chain)` });
    }
    if (row.status === "failed" && onChain === "confirmed") {
      differences.push({ kind: "paid_on_chain_not_in_usage", id: row.id, detail: `recorded failed, but ${row.tx_signature} landed` });
    }
    if (row.status === "pending") differences.push({ kind: "pending", id: row.id, detail: `pending since ${row.created_at}` });

    if (row.status !== "succeeded" || row.tier === "free") continue;
    billable += row.developer_cost_micro;
    if (row.billing_status === "reported") {
      reported += row.developer_cost_micro;
      if (!row.batch_id) differences.push({ kind: "reported_not_in_batch", id: row.id, detail: "reported without a batch" });
    } else if (row.billing_status === "flagged") {
      differences.push({ kind: "flagged_for_operator", id: row.id, detail: `${row.developer_cost_micro} micro-USD not reported (too old or refused by Stripe)` });
    } else {
      inFlight += row.developer_cost_micro;
      if (Date.now() - Date.parse(row.created_at) > grace) {
        differences.push({ kind: "billable_not_reported", id: row.id, detail: `${row.billing_status} since ${row.created_at}` });
      }
    }
  }
  for (const batch of data.batches) {
    if (batch.total_micro !== batch.rows_micro || batch.calls !== batch.rows) {
      differences.push({ kind: "batch_total_mismatch", id: batch.id, detail: `meter value ${batch.total_micro} for ${batch.calls} calls, rows sum ${batch.rows_micro} for ${batch.rows}` });
    }
  }
  return {
    from: range.from.toISOString(),
    to: range.to.toISOString(),
    calls: data.usage.length,
    paid_on_chain_micro: paidOnChain,
    billable_developer_micro: billable,
    reported_micro: reported,
    in_flight_micro: inFlight,
    differences,
  };
}
