import type { Ledger } from "./ledger";

export type Landing = "landed" | "not_landed" | "unknown";

/**
 * Whether a signed transaction landed, from positive evidence only (the chain's whole history):
 *  - landed: its signature is confirmed;
 *  - not_landed: it failed, or its signature is unknown *and* the chain's height has passed the
 *    height after which it could land (its last valid block height, recorded when it was signed);
 *  - unknown: anything else — it could still land, or nothing proves it cannot (no recorded
 *    bound). The caller keeps waiting and never sends again.
 */
export async function landingOf(ledger: Ledger, signed: { signature: string; lastValidBlockHeight: number | null }): Promise<Landing> {
  const status = await ledger.getSignatureStatus(signed.signature);
  if (status === "confirmed") return "landed";
  if (status === "failed") return "not_landed";
  if (signed.lastValidBlockHeight === null) return "unknown";
  if ((await ledger.blockHeight()) <= signed.lastValidBlockHeight) return "unknown";
  // Past its last valid height: one more look, in case it landed just before.
  return (await ledger.getSignatureStatus(signed.signature)) === "confirmed" ? "landed" : "not_landed";
}
