import {
  ASSOCIATED_TOKEN_PROGRAM_ID,
  TOKEN_PROGRAM_ID,
  TokenInstruction,
  decodeTransferCheckedInstruction,
  decodeTransferInstruction,
} from "@solana/spl-token";
import { ComputeBudgetInstruction, ComputeBudgetProgram, PublicKey, TransactionInstruction } from "@solana/web3.js";
import { toBase58 } from "@/lib/solana/base58";
import { USDC_DECIMALS } from "@/lib/money/units";
import { MEMO_PROGRAMS } from "@/lib/solana/memo";
import {
  associatedTokenAddress,
  isLegacyAccountWritable,
  isVersionedMessage,
  readLegacyMessage,
  splitTransactionWire,
  type LegacyMessage,
} from "@/lib/solana/signing";

/**
 * The signing policy: the gateway never signs blind, and what it signs is bounded in lamports as
 * well as in USDC. Deny by default — a marketplace transaction is signed only when it is exactly
 * the agent's price, split between the agent's owner and the protocol wallet as `fee_bps` says,
 * out of the key's USDC account, with the key's wallet the only signer and fee payer, and nothing
 * else but a bounded compute budget and memos. In particular (DESIGN.md "Money safety"):
 *  - at most one compute-unit limit and one compute-unit price; the priority fee they make the
 *    wallet pay is at most `maxPriorityFeeLamports`;
 *  - no token-account creation at all: creating a recipient's account pays its rent (~0.002 SOL,
 *    hundreds of times a call's price) to whoever later closes it — the recipient. An existence
 *    check cannot make it safe: the marketplace submits the transaction and chooses when, so an
 *    owner can close his account between our check and the landing. Recipients that can be paid
 *    already have their USDC account; the others are refused, clearly, before anything is paid;
 *  - signers are read from the message header, not from the signature list on the wire;
 *  - legacy transactions only (a versioned one can load accounts from lookup tables).
 */

/** Solana's compute-unit limit when a transaction sets none: 200,000 per instruction, at most 1.4M. */
const DEFAULT_UNITS_PER_INSTRUCTION = 200_000n;
const MAX_COMPUTE_UNITS = 1_400_000n;

export interface PaymentExpectation {
  wallet: PublicKey;
  usdcMint: PublicKey;
  priceMicro: bigint;
  /** The agent's owner (catalog `owner_wallet`) and the marketplace's protocol wallet. */
  owner: PublicKey;
  protocolWallet: PublicKey;
  /** The protocol's share in basis points: floor(price × fee_bps / 10,000) to the protocol, the rest to the owner. */
  feeBps: number;
  /** The most the compute-budget instructions may make the wallet pay on top of the base fee. */
  maxPriorityFeeLamports: bigint;
}

/** `message` is the exact bytes that were checked: what the wallet signs, never a recompilation. */
export type VerifiedPayment = { ok: true; recentBlockhash: string; message: Buffer; totalMicro: bigint } | { ok: false; reason: string };

/** The split the marketplace must build: owner gets price − fee, protocol gets the fee (rounded down). */
export function splitPayment(priceMicro: bigint, feeBps: number): { ownerMicro: bigint; protocolMicro: bigint } {
  const protocolMicro = (priceMicro * BigInt(feeBps)) / 10_000n;
  return { ownerMicro: priceMicro - protocolMicro, protocolMicro };
}

export function verifyPaymentTransaction(base64: string, expected: PaymentExpectation): VerifiedPayment {
  const refuse = (reason: string): VerifiedPayment => ({ ok: false, reason });
  const wire = decodeWire(base64);
  if (!wire.ok) return refuse(wire.reason);
  const { message, messageBytes, signatureCount } = wire;

  // Signers come from the header: web3.js would otherwise take them from the signature list.
  if (message.numRequiredSignatures !== 1)
    return refuse(`the message asks for ${message.numRequiredSignatures} signers; only the key's wallet signs`);
  if (signatureCount !== 1) return refuse("the signature list does not match the message header");
  if (message.numReadonlySignedAccounts !== 0) return refuse("the fee payer is read-only");
  const feePayer = message.accountKeys[0];
  if (!feePayer || !expected.wallet.toBuffer().equals(feePayer)) return refuse("fee payer is not the key's wallet");
  const instructions = readInstructions(message);
  if (!instructions) return refuse("an instruction names an account the message does not list");

  const source = associatedTokenAddress(expected.usdcMint, expected.wallet);
  const ownerAccount = associatedTokenAddress(expected.usdcMint, expected.owner);
  const protocolAccount = associatedTokenAddress(expected.usdcMint, expected.protocolWallet);
  // An owner who is also the protocol wallet has one account: what it gets counts as the owner's.
  let toOwner = 0n;
  let toProtocol = 0n;
  const budget = { limit: null as bigint | null, microLamports: null as bigint | null };
  let total = 0n;
  let transfers = 0;
  let otherInstructions = 0;

  for (const [index, instruction] of instructions.entries()) {
    const where = `instruction ${index}`;
    if (instruction.programId.equals(ComputeBudgetProgram.programId)) {
      const problem = readComputeBudget(instruction, budget);
      if (problem) return refuse(`${where}: ${problem}`);
      continue;
    }
    otherInstructions += 1;
    if (MEMO_PROGRAMS.some((memo) => memo.equals(instruction.programId))) {
      // A memo moves nothing; it may only ask the wallet to sign.
      if (!instruction.keys.every((key) => key.pubkey.equals(expected.wallet) && !key.isWritable))
        return refuse(`${where}: memo names other accounts`);
      continue;
    }
    if (instruction.programId.equals(ASSOCIATED_TOKEN_PROGRAM_ID)) {
      const recipient = instruction.keys[2]?.pubkey.toBase58() ?? "an unknown owner";
      return refuse(
        `${where}: creates a token account for ${recipient}, paying its rent; this gateway pays no rent (the recipient must hold a USDC account)`,
      );
    }
    if (!instruction.programId.equals(TOKEN_PROGRAM_ID))
      return refuse(`${where}: program ${instruction.programId.toBase58()} is not allowed`);

    const transfer = readTransfer(instruction, expected.usdcMint);
    if (!transfer.ok) return refuse(`${where}: ${transfer.reason}`);
    if (!transfer.from.equals(source)) return refuse(`${where}: transfers out of an account that is not the wallet's USDC account`);
    if (!transfer.authority.equals(expected.wallet)) return refuse(`${where}: transfer authority is not the wallet`);
    if (transfer.to.equals(ownerAccount)) toOwner += transfer.amount;
    else if (transfer.to.equals(protocolAccount)) toProtocol += transfer.amount;
    else return refuse(`${where}: pays someone other than the agent's owner or the protocol`);
    total += transfer.amount;
    transfers += 1;
  }

  if (transfers === 0) return refuse("no payment in the transaction");
  if (total !== expected.priceMicro) return refuse(`pays ${total} base units, the agent's price is ${expected.priceMicro}`);
  // An owner who is also the protocol wallet gets both shares in one account: the total says it all.
  const split = splitPayment(expected.priceMicro, expected.feeBps);
  if (!ownerAccount.equals(protocolAccount) && (toOwner !== split.ownerMicro || toProtocol !== split.protocolMicro)) {
    return refuse(
      `splits the price ${toOwner} to the owner and ${toProtocol} to the protocol; fee_bps ${expected.feeBps} says ${split.ownerMicro} and ${split.protocolMicro}`,
    );
  }

  const priorityFee = priorityFeeLamports(budget, otherInstructions);
  if (priorityFee > expected.maxPriorityFeeLamports) {
    return refuse(
      `its compute budget costs ${priorityFee} lamports of priority fee, above this gateway's ceiling of ${expected.maxPriorityFeeLamports}`,
    );
  }
  return { ok: true, recentBlockhash: toBase58(message.recentBlockhash), message: messageBytes, totalMicro: total };
}

/**
 * The message's instructions with their accounts' signer and writable flags read from the header,
 * as the runtime reads them (what `Transaction.populate` gives for a message whose one signer is
 * the fee payer, without its base58 comparisons of every key and its JSON copy of the whole
 * transaction: `populate` was 1.8% of the request thread in a profile of the paid-call route).
 * Null when an index points past the account list.
 */
function readInstructions(message: LegacyMessage): TransactionInstruction[] | null {
  const keys = message.accountKeys.map((bytes) => new PublicKey(bytes));
  const instructions: TransactionInstruction[] = [];
  for (const compiled of message.instructions) {
    if (compiled.programIdIndex >= keys.length || compiled.accountIndexes.some((index) => index >= keys.length)) return null;
    instructions.push(
      new TransactionInstruction({
        programId: keys[compiled.programIdIndex]!,
        keys: compiled.accountIndexes.map((index) => ({
          pubkey: keys[index]!,
          isSigner: index < message.numRequiredSignatures,
          isWritable: isLegacyAccountWritable(message, index),
        })),
        data: Buffer.from(compiled.data),
      }),
    );
  }
  return instructions;
}

/** The wire format: a compact-u16 count of signatures, the signatures, then the message. */
function decodeWire(
  base64: string,
): { ok: true; message: LegacyMessage; messageBytes: Buffer; signatureCount: number } | { ok: false; reason: string } {
  const split = splitTransactionWire(Buffer.from(base64, "base64"));
  if (!split) return { ok: false, reason: "not a Solana transaction" };
  const messageBytes = split.message;
  if (isVersionedMessage(messageBytes)) return { ok: false, reason: "a versioned transaction (only legacy transactions are signed)" };
  const message = readLegacyMessage(messageBytes);
  if (!message) return { ok: false, reason: "not a legacy Solana transaction" };
  return { ok: true, message, messageBytes: Buffer.from(messageBytes), signatureCount: split.signatures.length };
}

/** Reads one compute-budget instruction into `budget`; returns why it is refused, or null. */
function readComputeBudget(
  instruction: TransactionInstruction,
  budget: { limit: bigint | null; microLamports: bigint | null },
): string | null {
  if (instruction.keys.length > 0) return "compute-budget instruction names accounts";
  let kind: string;
  try {
    kind = ComputeBudgetInstruction.decodeInstructionType(instruction);
  } catch {
    return "malformed compute-budget instruction";
  }
  try {
    if (kind === "SetComputeUnitLimit") {
      if (budget.limit !== null) return "a second compute-unit limit";
      budget.limit = BigInt(ComputeBudgetInstruction.decodeSetComputeUnitLimit(instruction).units);
      return null;
    }
    if (kind === "SetComputeUnitPrice") {
      if (budget.microLamports !== null) return "a second compute-unit price";
      budget.microLamports = BigInt(ComputeBudgetInstruction.decodeSetComputeUnitPrice(instruction).microLamports);
      return null;
    }
  } catch {
    return "malformed compute-budget instruction";
  }
  return `compute-budget instruction ${kind} is not allowed`;
}

/** Priority fee = ceil(compute-unit limit × price in micro-lamports / 1,000,000), as the runtime charges it. */
function priorityFeeLamports(budget: { limit: bigint | null; microLamports: bigint | null }, instructions: number): bigint {
  if (budget.microLamports === null || budget.microLamports === 0n) return 0n;
  const units = budget.limit ?? bigMin(DEFAULT_UNITS_PER_INSTRUCTION * BigInt(instructions), MAX_COMPUTE_UNITS);
  const capped = bigMin(units, MAX_COMPUTE_UNITS);
  return (capped * budget.microLamports + 999_999n) / 1_000_000n;
}

function bigMin(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}

/** What the policy reads from a decoded Transfer or TransferChecked. */
function transferFields(decoded: ReturnType<typeof decodeTransferInstruction> | ReturnType<typeof decodeTransferCheckedInstruction>) {
  return {
    ok: true as const,
    amount: BigInt(decoded.data.amount),
    from: decoded.keys.source.pubkey,
    to: decoded.keys.destination.pubkey,
    authority: decoded.keys.owner.pubkey,
  };
}

/** A Transfer or TransferChecked of USDC (6 decimals), single authority. */
function readTransfer(
  instruction: TransactionInstruction,
  usdcMint: PublicKey,
): { ok: true; amount: bigint; from: PublicKey; to: PublicKey; authority: PublicKey } | { ok: false; reason: string } {
  try {
    if (instruction.data[0] === TokenInstruction.TransferChecked) {
      const decoded = decodeTransferCheckedInstruction(instruction, TOKEN_PROGRAM_ID);
      if (!decoded.keys.mint.pubkey.equals(usdcMint)) return { ok: false, reason: "transfers another token" };
      if (decoded.data.decimals !== USDC_DECIMALS) return { ok: false, reason: "wrong decimals" };
      if (decoded.keys.multiSigners.length > 0) return { ok: false, reason: "multisig transfer" };
      return transferFields(decoded);
    }
    if (instruction.data[0] === TokenInstruction.Transfer) {
      // No mint in a plain Transfer: the source (the wallet's USDC account) fixes it.
      const decoded = decodeTransferInstruction(instruction, TOKEN_PROGRAM_ID);
      if (decoded.keys.multiSigners.length > 0) return { ok: false, reason: "multisig transfer" };
      return transferFields(decoded);
    }
  } catch {
    return { ok: false, reason: "malformed token instruction" };
  }
  return { ok: false, reason: `token instruction ${instruction.data[0]} is not a transfer` };
}
