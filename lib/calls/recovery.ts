import type { MarketplaceClient } from "@/lib/agents/marketplace-client";
import type { Database } from "@/lib/db";
import type { MoneyPolicy } from "@/lib/money/policy";
import type { Ledger } from "@/lib/solana/ledger";
import { landingOf } from "@/lib/solana/landing";
import type { CallOutcome } from "./outcome";
import { readStoredOutcome } from "./outcome";
import type { UsageRow } from "./schemas";
import { listPendingCalls, settleCall } from "./usage-store";

type Signed = { signature: string; lastValidBlockHeight: number | null };

/** Whether a signed payment landed: paid, not paid, or not known yet (see `landingOf`). */
export async function resolvePayment(ledger: Ledger, signed: Signed): Promise<"paid" | "not_paid" | "unknown"> {
  const landing = await landingOf(ledger, signed);
  return landing === "landed" ? "paid" : landing === "not_landed" ? "not_paid" : "unknown";
}

/** `resolvePayment`, asked again every half second for up to `waitMs` while the answer is "unknown". */
export async function confirmPayment(ledger: Ledger, signed: Signed, waitMs: number): Promise<"paid" | "not_paid" | "unknown"> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const payment = await resolvePayment(ledger, signed);
    if (payment !== "unknown" || Date.now() >= deadline) return payment;
    await new Promise((resolve) => setTimeout(resolve, Math.min(500, Math.max(1, deadline - Date.now()))));
  }
}

export interface RecoveryDeps {
  db: Database;
  ledger: Ledger;
  policy: MoneyPolicy;
  /** To read a paid call's receipt from the marketplace when its answer never reached us. */
  agents?: { client: Pick<MarketplaceClient, "getReceipt"> } | null;
}

/**
 * Settles calls left pending by a crash, a lost answer or an unconfirmed payment, from the chain —
 * never by paying again:
 *  - never signed: nothing can have been paid → failed, reservation released;
 *  - signed and landed, with the agent's answer kept (or readable from the marketplace's receipt)
 *    → succeeded, billed once; without it → agent_failed (not billed);
 *  - signed, not landed and provably no longer able to → failed, reservation released;
 *  - anything else → left pending for a later pass (the stale-pending alert watches those).
 */
export async function recoverPendingCalls(
  deps: RecoveryDeps,
  options: { keyId?: string | null; olderThan: Date; limit?: number },
): Promise<{ resolved: number; pending: number }> {
  const rows = await listPendingCalls(deps.db, options.keyId ?? null, options.olderThan, options.limit ?? 100);
  let resolved = 0;
  for (const row of rows) {
    if (await recoverCall(deps, row)) resolved += 1;
  }
  return { resolved, pending: rows.length - resolved };
}

async function recoverCall(deps: RecoveryDeps, row: UsageRow): Promise<boolean> {
  const notPaid = (message: string): CallOutcome => ({
    kind: "not_paid",
    requestId: row.request_id,
    reason: { code: "marketplace_error", message },
  });
  if (!row.tx_signature) {
    const message = "The call was interrupted before anything was paid.";
    return (await settleCall(deps.db, row.id, { status: "failed", error: message, outcome: notPaid(message) }, deps.policy)).settled;
  }
  const payment = await resolvePayment(deps.ledger, { signature: row.tx_signature, lastValidBlockHeight: row.last_valid_block_height });
  if (payment === "unknown") return false;
  if (payment === "not_paid") {
    const message = "The call was interrupted; its payment never landed.";
    return (
      await settleCall(deps.db, row.id, { status: "failed", error: "The payment never landed.", outcome: notPaid(message) }, deps.policy)
    ).settled;
  }
  const answered = await paidAnswer(deps, row, row.tx_signature);
  if (answered) {
    return (
      await settleCall(
        deps.db,
        row.id,
        { status: "succeeded", txSignature: row.tx_signature, receiptId: answered.receiptId, outcome: answered },
        deps.policy,
      )
    ).settled;
  }
  const outcome: CallOutcome = {
    kind: "agent_failed",
    requestId: row.request_id,
    message: "The call was paid but its answer was lost",
    txSignature: row.tx_signature,
  };
  return (
    await settleCall(
      deps.db,
      row.id,
      {
        status: "agent_failed",
        txSignature: row.tx_signature,
        error: "Paid on chain, but the agent's answer was lost; not billed.",
        outcome,
      },
      deps.policy,
    )
  ).settled;
}

/** The answer of a call whose payment landed: kept on the row, or read from the marketplace's receipt of this very payment. */
async function paidAnswer(
  deps: RecoveryDeps,
  row: UsageRow,
  signature: string,
): Promise<Extract<CallOutcome, { kind: "succeeded" }> | null> {
  if (row.response) {
    const stored = readStoredOutcome(row.response);
    if (stored.kind === "outcome" && stored.outcome.kind === "succeeded" && stored.outcome.txSignature === signature) return stored.outcome;
  }
  if (!row.receipt_id || !deps.agents) return null;
  let receipt: Awaited<ReturnType<NonNullable<typeof deps.agents>["client"]["getReceipt"]>>;
  try {
    receipt = await deps.agents.client.getReceipt(row.receipt_id);
  } catch {
    return null; // the marketplace is down or forgot it: left as agent_failed, never billed on a guess
  }
  if (receipt.tx_signature !== signature) return null;
  return {
    kind: "succeeded",
    requestId: row.request_id,
    output: receipt.output_data,
    txSignature: signature,
    receiptId: receipt.id,
    charge: {
      agentId: row.agent_id,
      agentName: row.agent_name ?? row.agent_id,
      agentCostMicro: row.agent_cost_micro,
      markupBps: row.markup_bps,
      developerCostMicro: row.developer_cost_micro,
      tier: row.tier,
    },
  };
}
