import { randomUUID } from "node:crypto";
import { PublicKey, TransactionInstruction } from "@solana/web3.js";

/** SPL Memo (v2): records bytes in a transaction, moves nothing. The one our own transactions use. */
export const MEMO_PROGRAM_ID = new PublicKey("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr");

/** SPL Memo v2 and v1: they record bytes in the transaction and do nothing else (what a payment may carry). */
export const MEMO_PROGRAMS = [MEMO_PROGRAM_ID, new PublicKey("Memo1UhkJRfHyvLMcVucJwxXeuD728EqVDDwQDxFMNo")];

/** A memo of random bytes: two otherwise identical transactions keep distinct signatures. */
export function nonceMemo(label = "tdk"): TransactionInstruction {
  return new TransactionInstruction({ programId: MEMO_PROGRAM_ID, keys: [], data: Buffer.from(`${label}:${randomUUID()}`, "utf8") });
}
