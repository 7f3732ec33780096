import { randomUUID } from "node:crypto";
import { TransactionInstruction } from "@solana/web3.js";
import { MEMO_PROGRAM_ID } from "./ledger";

/** A memo of random bytes: two otherwise identical transactions keep distinct signatures. */
export function nonceMemo(label = "tdk"): TransactionInstruction {
  return new TransactionInstruction({ programId: MEMO_PROGRAM_ID, keys: [], data: Buffer.from(`${label}:${randomUUID()}`, "utf8") });
}
