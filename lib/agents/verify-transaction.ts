import {
  ASSOCIATED_TOKEN_PROGRAM_ID,
  TOKEN_PROGRAM_ID,
  TokenInstruction,
  decodeTransferCheckedInstruction,
  decodeTransferInstruction,
  getAssociatedTokenAddressSync,
} from "@solana/spl-token";
import { ComputeBudgetProgram, PublicKey, Transaction } from "@solana/web3.js";
import { USDC_DECIMALS } from "@/lib/solana/ledger";

/**
 * The gateway never signs blind. Before a key's wallet signs a payment the marketplace built, it
 * must be exactly a payment of the agent's price from this wallet to the agent's owner and/or the
 * protocol wallet, with this wallet paying the fee, and nothing else.
 */
/** SPL Memo v2 and v1: they record bytes in the transaction and do nothing else. */
export const MEMO_PROGRAMS = [new PublicKey("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr"), new PublicKey("Memo1UhkJRfHyvLMcVucJwxXeuD728EqVDDwQDxFMNo")];

export interface PaymentExpectation {
  wallet: PublicKey;
  usdcMint: PublicKey;
  priceMicro: bigint;
  recipients: PublicKey[];
}

export type VerifiedPayment = { ok: true; transaction: Transaction; totalMicro: bigint } | { ok: false; reason: string };

export function verifyPaymentTransaction(base64: string, expected: PaymentExpectation): VerifiedPayment {
  let transaction: Transaction;
  try {
    transaction = Transaction.from(Buffer.from(base64, "base64"));
  } catch {
    return { ok: false, reason: "not a legacy Solana transaction" };
  }
  const refuse = (reason: string): VerifiedPayment => ({ ok: false, reason });

  if (!transaction.feePayer?.equals(expected.wallet)) return refuse("fee payer is not the key's wallet");
  const signers = transaction.signatures.map((entry) => entry.publicKey);
  if (signers.length !== 1 || !signers[0]!.equals(expected.wallet)) return refuse("the transaction needs signers other than the key's wallet");

  const source = getAssociatedTokenAddressSync(expected.usdcMint, expected.wallet, true);
  const owners = [expected.wallet, ...expected.recipients];
  const destinations = expected.recipients.map((owner) => getAssociatedTokenAddressSync(expected.usdcMint, owner, true));
  let total = 0n;
  let transfers = 0;

  for (const [index, instruction] of transaction.instructions.entries()) {
    const where = `instruction ${index}`;
    if (instruction.programId.equals(ComputeBudgetProgram.programId)) continue;
    if (MEMO_PROGRAMS.some((memo) => memo.equals(instruction.programId))) {
      // A memo (the marketplace's intent reference) moves nothing; it may only ask the wallet to sign.
      if (!instruction.keys.every((key) => key.pubkey.equals(expected.wallet) && !key.isWritable)) return refuse(`${where}: memo names other accounts`);
      continue;
    }

    if (instruction.programId.equals(ASSOCIATED_TOKEN_PROGRAM_ID)) {
      // create (no data / 0) or create-idempotent (1): [payer, ata, owner, mint, system, token]
      const kind = instruction.data.length === 0 ? 0 : instruction.data[0];
      if (kind !== 0 && kind !== 1) return refuse(`${where}: associated-token instruction other than create`);
      const [, ata, owner, mint] = instruction.keys.map((key) => key.pubkey);
      if (!mint?.equals(expected.usdcMint)) return refuse(`${where}: creates a token account of another mint`);
      if (!owner || !owners.some((allowed) => allowed.equals(owner))) return refuse(`${where}: creates a token account for a stranger`);
      if (!ata?.equals(getAssociatedTokenAddressSync(expected.usdcMint, owner, true))) return refuse(`${where}: not the owner's associated account`);
      continue;
    }

    if (!instruction.programId.equals(TOKEN_PROGRAM_ID)) return refuse(`${where}: program ${instruction.programId.toBase58()} is not allowed`);
    let amount: bigint;
    let from: PublicKey;
    let to: PublicKey;
    let authority: PublicKey;
    try {
      if (instruction.data[0] === TokenInstruction.TransferChecked) {
        const decoded = decodeTransferCheckedInstruction(instruction, TOKEN_PROGRAM_ID);
        if (!decoded.keys.mint.pubkey.equals(expected.usdcMint)) return refuse(`${where}: transfers another token`);
        if (decoded.data.decimals !== USDC_DECIMALS) return refuse(`${where}: wrong decimals`);
        ({ amount } = decoded.data);
        from = decoded.keys.source.pubkey;
        to = decoded.keys.destination.pubkey;
        authority = decoded.keys.owner.pubkey;
        if (decoded.keys.multiSigners.length > 0) return refuse(`${where}: multisig transfer`);
      } else if (instruction.data[0] === TokenInstruction.Transfer) {
        const decoded = decodeTransferInstruction(instruction, TOKEN_PROGRAM_ID);
        ({ amount } = decoded.data);
        from = decoded.keys.source.pubkey;
        to = decoded.keys.destination.pubkey;
        authority = decoded.keys.owner.pubkey;
        if (decoded.keys.multiSigners.length > 0) return refuse(`${where}: multisig transfer`);
      } else {
        return refuse(`${where}: token instruction ${instruction.data[0]} is not a transfer`);
      }
    } catch {
      return refuse(`${where}: malformed token instruction`);
    }
    if (!from.equals(source)) return refuse(`${where}: transfers out of an account that is not the wallet's USDC account`);
    if (!authority.equals(expected.wallet)) return refuse(`${where}: transfer authority is not the wallet`);
    if (!destinations.some((destination) => destination.equals(to))) return refuse(`${where}: pays someone other than the agent or the protocol`);
    total += amount;
    transfers += 1;
  }

  if (transfers === 0) return refuse("no payment in the transaction");
  if (total !== expected.priceMicro) return refuse(`pays ${total} base units, the agent's price is ${expected.priceMicro}`);
  return { ok: true, transaction, totalMicro: total };
}
