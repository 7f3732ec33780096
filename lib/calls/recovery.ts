import type { Database } from "@/lib/db";
import { ApiError, errorBody } from "@/lib/http/errors";
import type { MoneyPolicy } from "@/lib/money/policy";
import type { Ledger } from "@/lib/solana/ledger";
import { landingOf } from "@/lib/solana/landing";
import { listPendingCalls, settleCall } from "./usage-store";

/** Whether a signed payment landed: paid, not paid, or not known yet (see `landingOf`). */
export async function resolvePayment(ledger: Ledger, signed: { signature: string; lastValidBlockHeight: number | null }): Promise<"paid" | "not_paid" | "unknown"> {
  const landing = await landingOf(ledger, signed);
  return landing === "landed" ? "paid" : landing === "not_landed" ? "not_paid" : "unknown";
}

/**
 * Settles calls left pending by a crash or a lost answer, from the chain — never by paying again.
 *  - never signed: nothing can have been paid → failed, reservation released;
 *  - signed and landed: paid, but the output is lost → agent_failed (not billed);
 *  - signed, not landed and provably no longer able to → failed, reservation released;
 *  - anything else → left pending for a later pass (the stale-pending alert watches those).
 */
export async function recoverPendingCalls(
  deps: { db: Database; ledger: Ledger; policy: MoneyPolicy },
  options: { keyId?: string | null; olderThan: Date; limit?: number },
): Promise<{ resolved: number; pending: number }> {
  const rows = await listPendingCalls(deps.db, options.keyId ?? null, options.olderThan, options.limit ?? 100);
  let resolved = 0;
  for (const row of rows) {
    const answer = (code: "agent_failed" | "marketplace_error", message: string, details: Record<string, unknown>) => {
      const error = new ApiError(code, message, details);
      return { status: error.status, body: errorBody(error, row.request_id) };
    };
    if (!row.tx_signature) {
      const message = "The call was interrupted before anything was paid.";
      const settled = await settleCall(deps.db, row.id, { status: "failed", error: message, response: answer("marketplace_error", message, { paid: false }) }, deps.policy);
      if (settled.settled) resolved += 1;
      continue;
    }
    const payment = await resolvePayment(deps.ledger, { signature: row.tx_signature, lastValidBlockHeight: row.last_valid_block_height });
    if (payment === "unknown") continue;
    const settled =
      payment === "paid"
        ? await settleCall(deps.db, row.id, {
            status: "agent_failed",
            txSignature: row.tx_signature,
            error: "Paid on chain, but the agent's answer was lost; not billed.",
            response: answer("agent_failed", "The call was paid but its answer was lost. This call is not billed to you.", { paid: true, tx_signature: row.tx_signature }),
          }, deps.policy)
        : await settleCall(deps.db, row.id, {
            status: "failed",
            error: "The payment never landed.",
            response: answer("marketplace_error", "The call was interrupted; its payment never landed.", { paid: false }),
          }, deps.policy);
    if (settled.settled) resolved += 1;
  }
  return { resolved, pending: rows.length - resolved };
}
