import {
  closeSync,
  existsSync,
  fstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  statSync,
  truncateSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { rename, writeFile } from "node:fs/promises";
import path from "node:path";
import {
  address,
  getTransactionDecoder,
  lamports as toLamports,
  signature as toSignature,
  type SignatureBytes,
  type Transaction as KitTransaction,
  type TransactionMessageBytes,
} from "@solana/kit";
import {
  AccountLayout,
  MINT_SIZE,
  TOKEN_PROGRAM_ID,
  TokenInstruction,
  createAssociatedTokenAccountIdempotentInstruction,
  createInitializeMint2Instruction,
  createMintToInstruction,
  decodeMintToInstruction,
  decodeTransferCheckedInstruction,
  decodeTransferInstruction,
} from "@solana/spl-token";
import { Keypair, PublicKey, SystemProgram, Transaction } from "@solana/web3.js";
import { fromBase58, toBase58 } from "./base58";
import { FailedTransactionMetadata, LiteSVM } from "litesvm";
import {
  BLOCKHASH_VALIDITY_BLOCKS,
  LedgerError,
  TOKEN_ACCOUNT_SIZE,
  type Ledger,
  type SignatureStatus,
  type UsdcAccount,
  type WalletBalances,
} from "./ledger";
import { USDC_DECIMALS } from "@/lib/money/units";
import { nonceMemo } from "./memo";
import { associatedTokenAddress, readLegacyMessage, signTransaction, splitTransactionWire } from "./signing";

/**
 * The embedded chain: LiteSVM in process, with a local USDC mint (6 decimals) and a local faucet
 * (`fund`) that stocks the embedded treasury.
 *
 * It behaves as a cluster where the gateway needs it to: a slot every 400 ms of wall time (its
 * block height), a new blockhash each slot, each usable for 150 blocks (60 s), and a whole history
 * of transactions, so a signature is never "unknown" only because it is old. LiteSVM itself accepts
 * only its latest blockhash, so its check is off and the age is checked here; a signature already
 * processed is refused.
 *
 * Durable across restarts and `kill -9`, at a cost of what each transaction changed: in `<dir>`,
 *   - journal.log  append-only, one JSON line per event, written before the event is acknowledged:
 *                  {"k":"bh",...} a blockhash handed out (and the slot), {"k":"tx",...} a processed
 *                  transaction (its bytes and outcome; a failed one still pays its fee), {"k":"skip"}
 *                  the chain moved on;
 *   - snapshot.bin the LiteSVM state after the first N journal entries (N in its first 8 bytes),
 *                  rewritten every SNAPSHOT_EVERY transactions (temp file + rename);
 *   - ledger.json  the mint, the faucet and the genesis time;
 *   - ledger.lock  the process that has it open (one writer at a time).
 * At start the snapshot is loaded and the journal's later entries replayed (each checked against
 * its recorded outcome); the history and the blockhashes come from the whole journal. A journal
 * line cut short by a crash was never acknowledged, and is dropped.
 */
const SLOT_MS = 400;
const SNAPSHOT_EVERY = 500;

interface LedgerMeta {
  usdcMint: string;
  /** Local-only mint authority of a local-only token: worthless outside this data dir. */
  faucetSecret: string;
  /** Wall time of slot 0. */
  genesisMs?: number;
}

type JournalEntry =
  | { k: "bh"; h: string; s: number; e: boolean }
  | { k: "tx"; sig: string; ok: boolean; s: number; tx: string }
  | { k: "skip"; n: number };

interface HistoryEntry {
  status: "confirmed" | "failed";
  slot: number;
  /**
   * The transaction's wire bytes (base64), to read what it moved: kept in memory by a ledger
   * without a directory; on disk, only where its journal line is (read back when asked), so that
   * the history, which grows with every transaction for as long as the process runs, costs the
   * heap a signature and a few numbers each (issue 11, point 7).
   */
  raw: string | JournalLine;
}

/** Where a journal entry's line is in journal.log, in bytes. */
interface JournalLine {
  offset: number;
  length: number;
}

const instances: Map<string, Promise<LocalLedger>> = ((globalThis as Record<string, unknown>).__tdkLocalLedger ??= new Map()) as Map<
  string,
  Promise<LocalLedger>
>;

export class LocalLedger implements Ledger {
  readonly kind = "local" as const;
  readonly usdcMint: PublicKey;
  private readonly faucet: Keypair;
  private readonly genesisMs: number;
  private readonly history = new Map<string, HistoryEntry>();
  /** Every address a transaction touched (`addressKey`) → its signatures, oldest first. */
  private readonly byAddress = new Map<string, string[]>();
  /** Every blockhash handed out → the slot it was handed out in. */
  private readonly blockhashes = new Map<string, number>();
  private current: { hash: string; slot: number } | null = null;
  private skippedSlots = 0;
  private journalFd: number | null = null;
  /** journal.log's length in bytes: where the next line goes. */
  private journalBytes = 0;
  private entries = 0;
  private transactionsSinceSnapshot = 0;
  private snapshotting: Promise<void> = Promise.resolve();
  private closed = false;

  private constructor(
    private readonly svm: LiteSVM,
    meta: LedgerMeta,
    private readonly dir: string | null,
  ) {
    this.usdcMint = new PublicKey(meta.usdcMint);
    this.faucet = Keypair.fromSecretKey(fromBase58(meta.faucetSecret));
    this.genesisMs = meta.genesisMs ?? Date.now();
    svm.withBlockhashCheck(false);
  }

  /** `dir` null: in memory only (tests). One instance per directory per process. */
  static open(dir: string | null): Promise<LocalLedger> {
    const key = dir ?? `memory:${Math.random()}`;
    let instance = instances.get(key);
    if (!instance) {
      instance = LocalLedger.load(dir);
      instances.set(key, instance);
      instance.catch(() => instances.delete(key));
    }
    return instance;
  }

  private static async load(dir: string | null): Promise<LocalLedger> {
    if (dir) {
      const saved = readSaved(dir);
      if (saved) {
        const ledger = new LocalLedger(LiteSVM.fromBytes(saved.state), saved.meta, dir);
        if (saved.meta.genesisMs === undefined)
          writeAtomicSync(path.join(dir, "ledger.json"), JSON.stringify({ ...saved.meta, genesisMs: ledger.genesisMs }), 0o600);
        ledger.replay(saved.snapshotEntries);
        return ledger;
      }
    }
    const svm = new LiteSVM();
    const faucet = Keypair.generate();
    const mint = Keypair.generate();
    svm.airdrop(address(faucet.publicKey.toBase58()), toLamports(1_000_000_000_000n));
    const meta: LedgerMeta = { usdcMint: mint.publicKey.toBase58(), faucetSecret: toBase58(faucet.secretKey), genesisMs: Date.now() };
    const ledger = new LocalLedger(svm, meta, dir);
    if (dir) {
      mkdirSync(dir, { recursive: true });
      writeAtomicSync(path.join(dir, "ledger.json"), JSON.stringify(meta), 0o600);
      writeAtomicSync(path.join(dir, "snapshot.bin"), snapshotBytes(0, svm.toBytes()));
      ledger.openJournal();
    }
    const rent = svm.minimumBalanceForRentExemption(BigInt(MINT_SIZE));
    const tx = new Transaction().add(
      SystemProgram.createAccount({
        fromPubkey: faucet.publicKey,
        newAccountPubkey: mint.publicKey,
        space: MINT_SIZE,
        lamports: Number(rent),
        programId: TOKEN_PROGRAM_ID,
      }),
      createInitializeMint2Instruction(mint.publicKey, USDC_DECIMALS, faucet.publicKey, null),
    );
    tx.feePayer = faucet.publicKey;
    tx.recentBlockhash = (await ledger.latestBlockhash()).blockhash;
    signTransaction(tx, faucet, mint);
    await ledger.sendTransaction(tx);
    return ledger;
  }

  /** The chain's block height: a slot per 400 ms since genesis, plus the slots it was moved on by. */
  private slot(): number {
    return Math.floor((Date.now() - this.genesisMs) / SLOT_MS) + this.skippedSlots;
  }

  async blockHeight(): Promise<number> {
    return this.slot();
  }

  async latestBlockhash() {
    const slot = this.slot();
    if (!this.current || this.current.slot < slot) {
      const expire = this.current !== null;
      if (expire) this.svm.expireBlockhash();
      const hash = this.svm.latestBlockhash();
      // Recorded before it is handed out: a blockhash in anyone's transaction is one the chain remembers.
      this.record({ k: "bh", h: hash, s: slot, e: expire });
      this.blockhashes.set(hash, slot);
      this.current = { hash, slot };
    }
    return { blockhash: this.current.hash, lastValidBlockHeight: this.current.slot + BLOCKHASH_VALIDITY_BLOCKS };
  }

  async lastValidBlockHeight(blockhash: string): Promise<number | null> {
    const issued = this.blockhashes.get(blockhash);
    return issued === undefined ? null : issued + BLOCKHASH_VALIDITY_BLOCKS;
  }

  /** The chain moves on (by more than a blockhash lives): every blockhash handed out so far can no longer be used. */
  expireBlockhashes(slots = BLOCKHASH_VALIDITY_BLOCKS + 1): void {
    const n = Math.max(slots, BLOCKHASH_VALIDITY_BLOCKS + 1);
    this.record({ k: "skip", n });
    this.skippedSlots += n;
  }

  async sendTransaction(tx: Transaction): Promise<string> {
    if (!tx.signature) throw new LedgerError("Transaction is not signed", "rejected");
    // LiteSVM verifies every signature itself: web3.js need not do it a second time.
    return this.sendRawTransaction(tx.serialize({ requireAllSignatures: true, verifySignatures: false }));
  }

  /** Its own blockhashes say when a transaction expires: the last valid block height is not needed here. */
  async sendRawTransaction(raw: Buffer, _lastValidBlockHeight?: number): Promise<string> {
    const parsed = parseSignedLegacyTransaction(raw);
    const { recentBlockhash, signature } = parsed;
    const issued = this.blockhashes.get(recentBlockhash);
    if (issued === undefined || this.slot() > issued + BLOCKHASH_VALIDITY_BLOCKS) {
      throw new LedgerError("Transaction failed: BlockhashNotFound", "rejected");
    }
    if (this.history.has(signature)) throw new LedgerError("Transaction failed: AlreadyProcessed", "rejected");
    const result = this.svm.sendTransaction(parsed.transaction);
    const ok = !(result instanceof FailedTransactionMetadata);
    // A failure is on the chain only if it was executed (its fee taken). One refused before that (a
    // signature that does not verify, a fee payer that cannot pay, a malformed message) is dropped,
    // as a cluster drops it: recorded under its signature, it would block the genuinely signed
    // transaction that carries the same first signature. LiteSVM says which by the signature in
    // its answer: the transaction's own when executed, all zeros when refused before.
    const executed = ok || parsed.signatureBytes.equals(result.meta().signature());
    if (executed) {
      // Journaled before it is acknowledged: once the caller hears "confirmed", a restart cannot lose it.
      const entry: JournalEntry = { k: "tx", sig: signature, ok, s: this.slot(), tx: raw.toString("base64") };
      const line = this.record(entry);
      // Every account the message names: the fee payer, the programs, and the instructions' accounts.
      this.remember(entry, parsed.accountKeys, line);
      this.maybeSnapshot();
    }
    if (!ok) throw new LedgerError(`Transaction failed: ${result.toString()}`, "rejected");
    return signature;
  }

  async getSignatureStatus(signature: string): Promise<SignatureStatus> {
    const known = this.history.get(signature);
    if (known) return known.status;
    // A ledger written before the journal existed: LiteSVM's own recent history.
    let meta: ReturnType<LiteSVM["getTransaction"]>;
    try {
      meta = this.svm.getTransaction(toSignature(signature));
    } catch {
      return "unknown"; // not even a signature
    }
    if (!meta) return "unknown";
    return meta instanceof FailedTransactionMetadata ? "failed" : "confirmed";
  }

  async getSignatureStatuses(signatures: string[]): Promise<SignatureStatus[]> {
    return Promise.all(signatures.map((signature) => this.getSignatureStatus(signature)));
  }

  async signaturesForAddress(owner: PublicKey): Promise<string[]> {
    return [...(this.byAddress.get(addressKey(owner.toBytes())) ?? [])].reverse();
  }

  async usdcDelta(signature: string, owner: PublicKey): Promise<bigint | null> {
    const entry = this.history.get(signature);
    if (!entry) return null;
    if (entry.status === "failed") return 0n;
    const account = associatedTokenAddress(this.usdcMint, owner);
    let delta = 0n;
    for (const instruction of Transaction.from(Buffer.from(this.rawOf(entry), "base64")).instructions) {
      if (!instruction.programId.equals(TOKEN_PROGRAM_ID)) continue;
      const kind = instruction.data[0];
      if (kind === TokenInstruction.TransferChecked || kind === TokenInstruction.Transfer) {
        const decoded =
          kind === TokenInstruction.TransferChecked
            ? decodeTransferCheckedInstruction(instruction)
            : decodeTransferInstruction(instruction);
        const amount = BigInt(decoded.data.amount);
        if (decoded.keys.source.pubkey.equals(account)) delta -= amount;
        if (decoded.keys.destination.pubkey.equals(account)) delta += amount;
      } else if (kind === TokenInstruction.MintTo) {
        const decoded = decodeMintToInstruction(instruction);
        if (decoded.keys.destination.pubkey.equals(account)) delta += BigInt(decoded.data.amount);
      }
    }
    return delta;
  }

  async isBlockhashValid(blockhash: string): Promise<boolean> {
    const issued = this.blockhashes.get(blockhash);
    return issued !== undefined && this.slot() <= issued + BLOCKHASH_VALIDITY_BLOCKS;
  }

  async getSolBalance(owner: PublicKey): Promise<bigint> {
    return BigInt(this.svm.getBalance(address(owner.toBase58())) ?? 0n);
  }

  async getUsdcBalance(owner: PublicKey): Promise<bigint> {
    return (await this.getUsdcAccount(owner)).amount;
  }

  async getUsdcAccount(owner: PublicKey): Promise<UsdcAccount> {
    const account = this.svm.getAccount(address(associatedTokenAddress(this.usdcMint, owner).toBase58()));
    if (!account.exists) return { exists: false, amount: 0n, lamports: 0n };
    return { exists: true, amount: AccountLayout.decode(Buffer.from(account.data)).amount, lamports: BigInt(account.lamports) };
  }

  async getWalletBalances(owners: PublicKey[]): Promise<WalletBalances[]> {
    return Promise.all(
      owners.map(async (owner) => ({ solLamports: await this.getSolBalance(owner), usdc: await this.getUsdcAccount(owner) })),
    );
  }

  async tokenAccountRentLamports(): Promise<bigint> {
    return this.svm.minimumBalanceForRentExemption(BigInt(TOKEN_ACCOUNT_SIZE));
  }

  async ping(): Promise<void> {}

  /** Local faucet: mints USDC and gives SOL to `owner` (the embedded treasury's stock). */
  async fund(owner: PublicKey, usdcMicro: bigint, lamports: bigint): Promise<string> {
    const ata = associatedTokenAddress(this.usdcMint, owner);
    const tx = new Transaction().add(createAssociatedTokenAccountIdempotentInstruction(this.faucet.publicKey, ata, owner, this.usdcMint));
    if (usdcMicro > 0n) tx.add(createMintToInstruction(this.usdcMint, ata, this.faucet.publicKey, usdcMicro));
    if (lamports > 0n) tx.add(SystemProgram.transfer({ fromPubkey: this.faucet.publicKey, toPubkey: owner, lamports }));
    tx.add(nonceMemo());
    tx.feePayer = this.faucet.publicKey;
    tx.recentBlockhash = (await this.latestBlockhash()).blockhash;
    signTransaction(tx, this.faucet);
    return this.sendTransaction(tx);
  }

  /**
   * The faucet for many owners at once (benchmarks stocking 100,000 wallets): the same USDC account,
   * mint and SOL as `fund`, several owners to a transaction (as many as its 1,232 bytes hold).
   * Returns how many transactions it took.
   */
  async fundMany(owners: PublicKey[], usdcMicro: bigint, lamports: bigint): Promise<number> {
    const PER_TRANSACTION = 5;
    let transactions = 0;
    for (let i = 0; i < owners.length; i += PER_TRANSACTION) {
      const tx = new Transaction();
      for (const owner of owners.slice(i, i + PER_TRANSACTION)) {
        const ata = associatedTokenAddress(this.usdcMint, owner);
        tx.add(createAssociatedTokenAccountIdempotentInstruction(this.faucet.publicKey, ata, owner, this.usdcMint));
        if (usdcMicro > 0n) tx.add(createMintToInstruction(this.usdcMint, ata, this.faucet.publicKey, usdcMicro));
        if (lamports > 0n) tx.add(SystemProgram.transfer({ fromPubkey: this.faucet.publicKey, toPubkey: owner, lamports }));
      }
      tx.feePayer = this.faucet.publicKey;
      tx.recentBlockhash = (await this.latestBlockhash()).blockhash;
      signTransaction(tx, this.faucet);
      await this.sendTransaction(tx);
      transactions += 1;
    }
    return transactions;
  }

  // What a JSON-RPC front (scripts/local-solana-rpc.ts) needs beyond the Ledger interface.

  /**
   * Runs the transaction without committing anything: what preflight would say. `sigVerify: false`
   * as a cluster's simulateTransaction defaults to (web3.js re-stamps the blockhash of an unsigned
   * simulation, so its signatures no longer match).
   */
  simulate(tx: Transaction, options: { sigVerify?: boolean } = {}): { err: unknown; logs: string[]; unitsConsumed: number } {
    const issued = tx.recentBlockhash ? this.blockhashes.get(tx.recentBlockhash) : undefined;
    if (issued === undefined || this.slot() > issued + BLOCKHASH_VALIDITY_BLOCKS)
      return { err: "BlockhashNotFound", logs: [], unitsConsumed: 0 };
    const signature = tx.signature ? toBase58(tx.signature) : null;
    if (signature && this.history.has(signature)) return { err: "AlreadyProcessed", logs: [], unitsConsumed: 0 };
    const raw = tx.serialize({ requireAllSignatures: false, verifySignatures: false });
    const verify = options.sigVerify ?? true;
    if (!verify) this.svm.withSigverify(false);
    let result: ReturnType<LiteSVM["simulateTransaction"]>;
    try {
      result = this.svm.simulateTransaction(getTransactionDecoder().decode(raw));
    } finally {
      if (!verify) this.svm.withSigverify(true);
    }
    const meta = result.meta();
    const err = result instanceof FailedTransactionMetadata ? transactionErrorJson(result.err()) : null;
    return { err, logs: meta.logs(), unitsConsumed: Number(meta.computeUnitsConsumed()) };
  }

  /** Lamports an account of `bytes` bytes must hold to be rent-exempt. */
  rentExemptMinimum(bytes: number): bigint {
    return this.svm.minimumBalanceForRentExemption(BigInt(bytes));
  }

  /** An account as the chain holds it, or null when it does not exist. */
  account(owner: PublicKey): { lamports: bigint; owner: string; data: Uint8Array; executable: boolean } | null {
    const account = this.svm.getAccount(address(owner.toBase58()));
    if (!account.exists) return null;
    return { lamports: BigInt(account.lamports), owner: account.programAddress, data: account.data, executable: account.executable };
  }

  /** A processed transaction: its outcome, slot and wire bytes (base64); null when the chain never saw it. */
  transaction(signature: string): { status: "confirmed" | "failed"; slot: number; raw: string } | null {
    const entry = this.history.get(signature);
    return entry ? { status: entry.status, slot: entry.slot, raw: this.rawOf(entry) } : null;
  }

  /** Stops writing (its directory may then be opened again, as after a restart). */
  async close(): Promise<void> {
    this.closed = true;
    await this.snapshotting;
    if (this.journalFd !== null) {
      closeSync(this.journalFd);
      unlinkSync(path.join(this.dir!, "ledger.lock"));
    }
    this.journalFd = null;
    if (this.dir) instances.delete(this.dir);
  }

  /** `line`: where the entry is in the journal (null without one: its bytes are kept in memory). */
  private remember(entry: Extract<JournalEntry, { k: "tx" }>, accounts: string[], line: JournalLine | null): void {
    this.history.set(entry.sig, { status: entry.ok ? "confirmed" : "failed", slot: entry.s, raw: line ?? entry.tx });
    for (const account of accounts) {
      const list = this.byAddress.get(account);
      if (list) list.push(entry.sig);
      else this.byAddress.set(account, [entry.sig]);
    }
  }

  /** Appends the entry to the journal, and says where its line is (null: no journal, in memory only). */
  private record(entry: JournalEntry): JournalLine | null {
    if (this.closed) throw new Error("This ledger was closed; open its directory again");
    this.entries += 1;
    if (this.journalFd === null) return null;
    // One write of a whole line: a kill cannot leave half of it behind (the kernel completes it).
    const line = Buffer.from(`${JSON.stringify(entry)}\n`, "utf8");
    writeSync(this.journalFd, line);
    const offset = this.journalBytes;
    this.journalBytes += line.length;
    return { offset, length: line.length };
  }

  /** A transaction's wire bytes (base64): from memory, or read back from its journal line. */
  private rawOf(entry: HistoryEntry): string {
    if (typeof entry.raw === "string") return entry.raw;
    if (this.journalFd === null) throw new Error("This ledger was closed; open its directory again");
    const line = Buffer.alloc(entry.raw.length);
    readSync(this.journalFd, line, 0, line.length, entry.raw.offset);
    return (JSON.parse(line.toString("utf8")) as Extract<JournalEntry, { k: "tx" }>).tx;
  }

  private openJournal(): void {
    lockDirectory(this.dir!);
    // Read and append: the history reads a transaction's bytes back from its line.
    this.journalFd = openSync(path.join(this.dir!, "journal.log"), "a+", 0o600);
    this.journalBytes = fstatSync(this.journalFd).size;
  }

  /** Rebuilds history and blockhashes from the whole journal, and the state from the snapshot plus the entries after it. */
  private replay(snapshotEntries: number): void {
    const file = path.join(this.dir!, "journal.log");
    const entries = readJournal(file);
    entries.forEach(({ entry, line }, index) => {
      const replayState = index >= snapshotEntries;
      if (entry.k === "bh") {
        if (replayState) {
          if (entry.e) this.svm.expireBlockhash();
          if (this.svm.latestBlockhash() !== entry.h)
            throw new Error(`Ledger journal does not match its snapshot at entry ${index} (blockhash)`);
        }
        this.blockhashes.set(entry.h, entry.s);
        this.current = { hash: entry.h, slot: entry.s };
      } else if (entry.k === "skip") {
        this.skippedSlots += entry.n;
      } else {
        const parsed = parseSignedLegacyTransaction(Buffer.from(entry.tx, "base64"));
        if (replayState) {
          const result = this.svm.sendTransaction(parsed.transaction);
          if (!(result instanceof FailedTransactionMetadata) !== entry.ok)
            throw new Error(`Ledger journal does not match its snapshot at entry ${index} (${entry.sig})`);
          this.transactionsSinceSnapshot += 1;
        }
        this.remember(entry, parsed.accountKeys, line);
      }
    });
    this.entries = entries.length;
    this.openJournal();
  }

  private maybeSnapshot(): void {
    if (!this.dir) return;
    this.transactionsSinceSnapshot += 1;
    if (this.transactionsSinceSnapshot < SNAPSHOT_EVERY) return;
    this.transactionsSinceSnapshot = 0;
    // State and journal position are taken together, now; the file is written in the background.
    const bytes = snapshotBytes(this.entries, this.svm.toBytes());
    const file = path.join(this.dir, "snapshot.bin");
    this.snapshotting = this.snapshotting.then(async () => {
      const temp = `${file}.${process.pid}.tmp`;
      await writeFile(temp, bytes);
      await rename(temp, file);
    });
  }
}

/** A signed legacy transaction, parsed once for all the ledger does with it. */
interface SignedLegacyTransaction {
  /** Base 58, as the ledger's blockhashes are kept. */
  recentBlockhash: string;
  /** The first signature, base 58: the transaction's id. */
  signature: string;
  /** The same, as the 64 bytes on the wire. */
  signatureBytes: Buffer;
  /** Every key the message names, as `addressKey` writes it, in the message's order (its signers first). */
  accountKeys: string[];
  /** As LiteSVM takes it (@solana/kit's shape): the message bytes, and each signer's signature in the header's order. */
  transaction: KitTransaction;
}

/**
 * An address as this ledger's index of transactions by address keys it: its 32 bytes as 32 latin1
 * characters. Base58 text of the 8-9 keys of a paid call's payment took about 20 µs a transaction
 * to write, 1.5 µs this way (issue 11); the index never leaves the process.
 */
function addressKey(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString("latin1");
}

/**
 * The wire bytes of a signed legacy transaction, parsed by web3.js once. LiteSVM's transaction is
 * built from that parse: kit's decoder would read the message a second time (issue 11's profile:
 * 716 ms of 30.1 s of the request thread's busy time under paid-call load, the ledger's largest
 * cost after LiteSVM itself).
 */
function parseSignedLegacyTransaction(raw: Buffer): SignedLegacyTransaction {
  const split = splitTransactionWire(raw);
  // This ledger takes legacy transactions only, and only whole ones.
  const message = split && split.signatures.length > 0 ? readLegacyMessage(split.message) : null;
  if (!split || !message) throw new LedgerError("Transaction failed: not a signed legacy transaction", "rejected");
  if (split.signatures.some((signature) => signature.every((byte) => byte === 0)))
    throw new LedgerError("Transaction is not signed", "rejected");
  // One signature per signer the header asks for, no more and no fewer.
  if (split.signatures.length !== message.numRequiredSignatures)
    throw new LedgerError("Transaction failed: not a signed legacy transaction", "rejected");
  // LiteSVM wants each signature under its signer's address (base58); the other keys are only indexed here.
  const signatures: Record<string, SignatureBytes> = {};
  split.signatures.forEach((bytes, index) => {
    signatures[toBase58(message.accountKeys[index]!)] = bytes as unknown as SignatureBytes;
  });
  return {
    recentBlockhash: toBase58(message.recentBlockhash),
    signature: toBase58(split.signatures[0]!),
    signatureBytes: split.signatures[0]!,
    accountKeys: message.accountKeys.map(addressKey),
    transaction: { messageBytes: split.message as unknown as TransactionMessageBytes, signatures } as KitTransaction,
  };
}

/**
 * One process writes a ledger directory: a second writer would interleave its journal with the
 * first one's. The lock names its process; a lock left by a process that died is taken over.
 */
function lockDirectory(dir: string): void {
  const lock = path.join(dir, "ledger.lock");
  try {
    writeFileSync(lock, String(process.pid), { flag: "wx", mode: 0o600 });
    return;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  }
  const holder = Number(readFileSync(lock, "utf8"));
  if (holder !== process.pid && processAlive(holder)) {
    throw new Error(`Ledger directory ${dir} is in use by process ${holder}: one process at a time may open it`);
  }
  writeFileSync(lock, String(process.pid), { mode: 0o600 });
}

function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

function snapshotBytes(entries: number, state: Uint8Array): Uint8Array {
  const header = Buffer.alloc(8);
  header.writeBigUInt64LE(BigInt(entries));
  return Buffer.concat([header, state]);
}

function writeAtomicSync(file: string, data: Uint8Array | string, mode = 0o644): void {
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, data, { mode });
  renameSync(temp, file);
}

/** The journal's complete lines and where each is; a last line cut short by a crash is dropped from the file too. */
function readJournal(file: string): { entry: JournalEntry; line: JournalLine }[] {
  if (!existsSync(file)) return [];
  const bytes = readFileSync(file);
  const end = bytes.lastIndexOf(0x0a) + 1;
  if (end < bytes.length) truncateSync(file, end);
  const lines: { entry: JournalEntry; line: JournalLine }[] = [];
  for (let offset = 0; offset < end; ) {
    const next = bytes.indexOf(0x0a, offset) + 1;
    if (next - offset > 1)
      lines.push({ entry: JSON.parse(bytes.toString("utf8", offset, next - 1)) as JournalEntry, line: { offset, length: next - offset } });
    offset = next;
  }
  return lines;
}

function readSaved(dir: string): { state: Uint8Array; meta: LedgerMeta; snapshotEntries: number } | null {
  const metaFile = path.join(dir, "ledger.json");
  if (!existsSync(metaFile)) return null;
  const meta = JSON.parse(readFileSync(metaFile, "utf8")) as LedgerMeta;
  const snapshot = path.join(dir, "snapshot.bin");
  if (existsSync(snapshot)) {
    const bytes = readFileSync(snapshot);
    return { meta, snapshotEntries: Number(bytes.readBigUInt64LE(0)), state: new Uint8Array(bytes.subarray(8)) };
  }
  // A ledger from before the journal: its whole state in ledger.bin, its history not kept.
  const legacy = path.join(dir, "ledger.bin");
  if (existsSync(legacy) && statSync(legacy).size > 0) {
    const state = new Uint8Array(readFileSync(legacy));
    writeAtomicSync(snapshot, snapshotBytes(0, state));
    return { meta, snapshotEntries: 0, state };
  }
  throw new Error(`Ledger directory ${dir} has ledger.json but no state`);
}

/** LiteSVM's transaction error as JSON-RPC shows one: `"Name"` or `{"InstructionError":[index, detail]}`. */
function transactionErrorJson(err: ReturnType<FailedTransactionMetadata["err"]>): unknown {
  if (typeof err === "number") return `TransactionError(${err})`;
  if ("index" in err && "err" in err && typeof err.err === "function") {
    const detail = (err as { err(): unknown }).err();
    const code = typeof detail === "object" && detail !== null && "code" in detail ? (detail as { code: number }).code : null;
    return { InstructionError: [err.index, code !== null ? { Custom: code } : String(detail)] };
  }
  return err.toString();
}
