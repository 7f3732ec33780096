import type { Database } from "@/lib/db";
import { ApiError, errorBody } from "@/lib/http/errors";
import type { MoneyPolicy } from "@/lib/money/policy";
import type { Ledger } from "@/lib/solana/ledger";
import { listPendingCalls, settleCall } from "./usage-store";

/**
 * Whether a signed payment landed, from the chain only: `paid` when confirmed, `not_paid` when it
 * failed or can no longer land (its blockhash expired), `unknown` while it still could.
 */
export async function resolvePayment(ledger: Ledger, signature: string, blockhash: string): Promise<"paid" | "not_paid" | "unknown"> {
  const status = await ledger.getSignatureStatus(signature);
  if (status === "confirmed") return "paid";
  if (status === "failed") return "not_paid";
  if (await ledger.isBlockhashValid(blockhash)) return "unknown";
  // Expired: look once more, in case it landed just before the blockhash ran out.
  return (await ledger.getSignatureStatus(signature)) === "confirmed" ? "paid" : "not_paid";
}

/**
 * Settles calls left pending by a crash or a lost answer, from the chain — never by paying again.
 *  - never signed: nothing can have been paid → failed, reservation released;
 *  - signed and landed: paid, but the output is lost → agent_failed (not billed);
 *  - signed, not landed and no longer able to → failed, reservation released;
 *  - signed and still able to land → left pending for a later pass.
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
    if (!row.tx_signature || !row.recent_blockhash) {
      const message = "The call was interrupted before anything was paid.";
      const settled = await settleCall(deps.db, row.id, { status: "failed", error: message, response: answer("marketplace_error", message, { paid: false }) }, deps.policy);
      if (settled.settled) resolved += 1;
      continue;
    }
    const payment = await resolvePayment(deps.ledger, row.tx_signature, row.recent_blockhash);
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
