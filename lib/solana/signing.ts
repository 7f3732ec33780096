import { getAssociatedTokenAddressSync } from "@solana/spl-token";
import type { Keypair, PublicKey, Transaction, TransactionInstruction } from "@solana/web3.js";
import { ed25519Sign, type Ed25519SigningKey } from "@/lib/crypto/ed25519";
import { fromBase58, toBase58 } from "./base58";

/**
 * Signs as `Transaction.sign` does — every signature the message requires is made here, by these
 * signers, in the message's order — with native Ed25519 (lib/crypto/ed25519.ts).
 */
export function signTransaction(tx: Transaction, ...signers: Keypair[]): void {
  if (signers.length === 0) throw new Error("No signers");
  // The slots `sign` lays out (unique signers, in order): a transaction read from the marketplace's
  // bytes keeps its compiled message, so the bytes signed are the bytes that were checked.
  const unique = signers.filter((signer, i) => signers.findIndex((other) => other.publicKey.equals(signer.publicKey)) === i);
  tx.signatures = unique.map((signer) => ({ signature: null, publicKey: signer.publicKey }));
  const message = tx.serializeMessage();
  for (const signer of unique) tx.addSignature(signer.publicKey, ed25519Sign(signer.secretKey, message));
  const missing = tx.signatures.find((pair) => pair.signature === null);
  if (missing) throw new Error(`Missing signature for ${missing.publicKey.toBase58()}`);
}

/**
 * web3.js orders a message's keys of the same kind by their base-58 text as
 * `localeCompare(other, "en", these options)` does. One collator, made once, compares the same way
 * (ECMA-402 defines that localeCompare as this collator's compare); localeCompare looks its
 * collator up again on every comparison.
 */
const keyOrder = new Intl.Collator("en", {
  localeMatcher: "best fit",
  usage: "sort",
  sensitivity: "variant",
  ignorePunctuation: false,
  numeric: false,
  caseFirst: "lower",
});

/** A key of a message being compiled: its bytes, its base-58 text, and what the instructions ask of it. */
interface KeyMeta {
  key: Buffer;
  text: string;
  isSigner: boolean;
  isWritable: boolean;
}

/** The keys after the fee payer, as web3.js orders them: signers first, then writable, then by text. */
function webJsKeyOrder(x: KeyMeta, y: KeyMeta): number {
  if (x.isSigner !== y.isSigner) return x.isSigner ? -1 : 1;
  if (x.isWritable !== y.isWritable) return x.isWritable ? -1 : 1;
  return keyOrder.compare(x.text, y.text);
}

function compactU16(value: number): number[] {
  const bytes: number[] = [];
  for (let rest = value; ; rest >>= 7) {
    if (rest < 0x80) return [...bytes, rest];
    bytes.push((rest & 0x7f) | 0x80);
  }
}

/**
 * A legacy message, the bytes `new Transaction({ feePayer, blockhash }).add(...instructions)
 * .serializeMessage()` gives (web3.js 1.x): the fee payer first, then the other keys signers
 * before non-signers, writable before read-only, then by base-58 text; each instruction's program
 * and accounts as indices into those keys. web3.js took about 190 µs for a two-transfer payment,
 * most of it in the comparisons of its sort (scratch micro-benchmark, 5,000 builds).
 */
export function compileLegacyMessage(feePayer: PublicKey, instructions: TransactionInstruction[], recentBlockhash: string): Buffer {
  const metas = new Map<string, KeyMeta>();
  const meet = (pubkey: PublicKey, isSigner: boolean, isWritable: boolean) => {
    const key = pubkey.toBuffer();
    const id = key.toString("hex");
    const known = metas.get(id);
    if (known) {
      known.isSigner ||= isSigner;
      known.isWritable ||= isWritable;
    } else metas.set(id, { key, text: toBase58(key), isSigner, isWritable });
  };
  // As web3.js: every instruction's accounts in order, then the programs, duplicates merged.
  for (const instruction of instructions) for (const meta of instruction.keys) meet(meta.pubkey, meta.isSigner, meta.isWritable);
  for (const instruction of instructions) meet(instruction.programId, false, false);
  const payer = feePayer.toBuffer();
  const payerId = payer.toString("hex");
  const others = [...metas.entries()]
    .filter(([id]) => id !== payerId)
    .map(([, meta]) => meta)
    .sort(webJsKeyOrder);
  const keys: KeyMeta[] = [{ key: payer, text: "", isSigner: true, isWritable: true }, ...others];
  const index = new Map(keys.map((meta, i) => [meta.key.toString("hex"), i]));
  if (keys.length > 255) throw new Error("A legacy message holds at most 255 keys");
  const signers = keys.filter((meta) => meta.isSigner);
  const header = [
    signers.length,
    signers.filter((meta) => !meta.isWritable).length,
    keys.filter((meta) => !meta.isSigner && !meta.isWritable).length,
  ];
  const blockhash = fromBase58(recentBlockhash);
  if (blockhash.length !== 32) throw new Error("A blockhash is 32 bytes");
  const parts: Uint8Array[] = [Buffer.from([...header, ...compactU16(keys.length)]), ...keys.map((meta) => meta.key), blockhash];
  parts.push(Buffer.from(compactU16(instructions.length)));
  for (const instruction of instructions) {
    const accounts = instruction.keys.map((meta) => index.get(meta.pubkey.toBuffer().toString("hex"))!);
    parts.push(
      Buffer.from([
        index.get(instruction.programId.toBuffer().toString("hex"))!,
        ...compactU16(accounts.length),
        ...accounts,
        ...compactU16(instruction.data.length),
      ]),
      instruction.data,
    );
  }
  return Buffer.concat(parts);
}

/** A compact-u16 (a length on the wire: 1 to 3 bytes, 7 bits each) at `offset`: its value and where it ends, or null if the bytes end first. */
function readCompactU16(bytes: Uint8Array, offset: number): { value: number; end: number } | null {
  let value = 0;
  for (let size = 0; size < 3; size += 1) {
    const byte = bytes[offset + size];
    if (byte === undefined) return null;
    value |= (byte & 0x7f) << (size * 7);
    if ((byte & 0x80) === 0) return { value, end: offset + size + 1 };
  }
  return null;
}

/** A transaction's wire bytes: a compact-u16 count of signatures, the signatures, then the message. */
export function splitTransactionWire(bytes: Buffer): { signatures: Buffer[]; message: Buffer } | null {
  const count = readCompactU16(bytes, 0);
  if (!count) return null;
  const messageStart = count.end + count.value * 64;
  if (bytes.length <= messageStart) return null;
  const signatures = Array.from({ length: count.value }, (_, i) => bytes.subarray(count.end + i * 64, count.end + (i + 1) * 64));
  return { signatures, message: bytes.subarray(messageStart) };
}

/** A legacy message as its bytes write it, each part a view into those bytes. */
export interface LegacyMessage {
  numRequiredSignatures: number;
  numReadonlySignedAccounts: number;
  numReadonlyUnsignedAccounts: number;
  /** 32 bytes each, in the message's order: the signers first, the fee payer at 0. */
  accountKeys: Uint8Array[];
  recentBlockhash: Uint8Array;
  instructions: { programIdIndex: number; accountIndexes: number[]; data: Uint8Array }[];
}

/**
 * Reads a legacy message's bytes: the 3-byte header, the account keys, the blockhash, and each
 * instruction's program index, accounts and data. Null for a versioned message and for one cut
 * short: web3.js's `Message.from` reads the latter as if its last instruction had no data, and
 * LiteSVM aborts the whole process on such bytes (a Rust panic, not an error). Bytes after the last
 * instruction are allowed, as a cluster's RPC allows them. Instructions' indices are not checked
 * against the keys: the caller words that refusal.
 *
 * Instead of web3.js's `Message.from`, which writes the blockhash and every instruction's data in
 * base 58 (to be read back by whoever wants bytes) and makes a PublicKey of every key: 20.2–25.5 µs
 * against 2.1–2.2 µs for a two-transfer payment (scratch micro-benchmark), and a paid call on the
 * embedded default reads its payment twice (the signing policy, the ledger).
 */
export function readLegacyMessage(message: Uint8Array): LegacyMessage | null {
  if (isVersionedMessage(message)) return null;
  const keys = readCompactU16(message, 3);
  if (!keys) return null;
  const blockhashStart = keys.end + keys.value * 32;
  const count = readCompactU16(message, blockhashStart + 32);
  if (!count) return null;
  const accountKeys = Array.from({ length: keys.value }, (_, i) => message.subarray(keys.end + i * 32, keys.end + (i + 1) * 32));
  const instructions: LegacyMessage["instructions"] = [];
  let offset = count.end;
  for (let i = 0; i < count.value; i += 1) {
    const programIdIndex = message[offset];
    const accounts = readCompactU16(message, offset + 1);
    if (programIdIndex === undefined || !accounts) return null;
    const data = readCompactU16(message, accounts.end + accounts.value);
    if (!data || data.end + data.value > message.length) return null;
    instructions.push({
      programIdIndex,
      accountIndexes: Array.from(message.subarray(accounts.end, accounts.end + accounts.value)),
      data: message.subarray(data.end, data.end + data.value),
    });
    offset = data.end + data.value;
  }
  return {
    numRequiredSignatures: message[0]!,
    numReadonlySignedAccounts: message[1]!,
    numReadonlyUnsignedAccounts: message[2]!,
    accountKeys,
    recentBlockhash: message.subarray(blockhashStart, blockhashStart + 32),
    instructions,
  };
}

/** Whether the runtime lets an instruction write the message's key at `index`, as its header says (web3.js's `Message.isAccountWritable`). */
export function isLegacyAccountWritable(message: LegacyMessage, index: number): boolean {
  const signers = message.numRequiredSignatures;
  if (index < signers) return index < signers - message.numReadonlySignedAccounts;
  return index - signers < message.accountKeys.length - signers - message.numReadonlyUnsignedAccounts;
}

/**
 * Whether a message is versioned (v0 and later): its first byte has the high bit set, where a
 * legacy message's first byte is its signer count. Versioned messages can load accounts from lookup
 * tables, which neither the signing policy nor the embedded ledger reads.
 */
export function isVersionedMessage(message: Uint8Array): boolean {
  return message.length > 0 && (message[0]! & 0x80) !== 0;
}

/**
 * A transaction's wire bytes before anyone signed it: the signature slots its message asks for
 * (the header's first byte; a compact-u16 count, one byte below 128), zeroed, then the message.
 * What `Transaction.serialize({ requireAllSignatures: false })` gives, without compiling the message again.
 */
export function unsignedWire(message: Buffer): Buffer {
  const required = message[0]!;
  if (required >= 0x80) throw new Error("A message asking for 128 signatures or more is not a legacy payment");
  return Buffer.concat([Buffer.from([required]), Buffer.alloc(64 * required), message]);
}

/**
 * The wire bytes of a transaction whose message asks for one signature, signed: a compact-u16
 * count (1), the signature, the message exactly as given. The bytes that were checked are the bytes
 * signed, with no recompilation by web3.js in between.
 */
export function signSingleSignerMessage(signer: Pick<Ed25519SigningKey, "sign">, message: Buffer): { wire: Buffer; signature: Buffer } {
  if (message[0] !== 1) throw new Error("The message does not ask for exactly one signature");
  const signature = signer.sign(message);
  return { wire: Buffer.concat([Buffer.from([1]), signature, message]), signature };
}

/**
 * An owner's associated token account address, remembered: deriving it hashes and tests points on
 * the curve in JavaScript (up to 255 tries), and a paid call needed it six times for the same few
 * owners. Bounded: past the limit the memory starts over.
 */
const ADDRESS_MEMORY_LIMIT = 50_000;
const addresses = new Map<string, PublicKey>();

export function associatedTokenAddress(mint: PublicKey, owner: PublicKey): PublicKey {
  // Keyed by the raw bytes (64 latin1 characters): the base58 text it was keyed by took 5 µs to make, 8 times this whole lookup.
  const key = mint.toBuffer().toString("latin1") + owner.toBuffer().toString("latin1");
  let address = addresses.get(key);
  if (!address) {
    if (addresses.size >= ADDRESS_MEMORY_LIMIT) addresses.clear();
    // Off-curve owners allowed: the treasury and wallets are keypairs, but a program's PDA could be paid too.
    address = getAssociatedTokenAddressSync(mint, owner, true);
    addresses.set(key, address);
  }
  return address;
}
