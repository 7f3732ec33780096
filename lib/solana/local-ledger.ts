import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { address, getTransactionDecoder, lamports as toLamports, signature as toSignature } from "@solana/kit";
import {
  AccountLayout,
  MINT_SIZE,
  TOKEN_PROGRAM_ID,
  createAssociatedTokenAccountIdempotentInstruction,
  createInitializeMint2Instruction,
  createMintToInstruction,
  getAssociatedTokenAddressSync,
} from "@solana/spl-token";
import { Keypair, PublicKey, SystemProgram, Transaction } from "@solana/web3.js";
import { fromBase58, toBase58 } from "./base58";
import { FailedTransactionMetadata, LiteSVM } from "litesvm";
import { LedgerError, TOKEN_ACCOUNT_SIZE, USDC_DECIMALS, type Ledger, type SignatureStatus, type UsdcAccount } from "./ledger";
import { nonceMemo } from "./memo";

/**
 * The embedded chain: LiteSVM in process, with a local USDC mint (6 decimals). Its state is
 * written to `<dataDir>/ledger.bin` after every transaction, so the chain and the database agree
 * across a restart. The mint authority is a local faucet that exists only here (`fund`), used to
 * stock the treasury on the embedded default.
 *
 * Blockhashes behave as on a cluster: a new one every slot (400 ms), each usable for 60 s, so
 * payments built concurrently all land. LiteSVM itself accepts only its latest blockhash, so its
 * check is off and the age is checked here; it still refuses a signature it has already processed.
 */
const SLOT_MS = 400;
const BLOCKHASH_TTL_MS = 60_000;

interface LedgerMeta {
  usdcMint: string;
  /** Local-only mint authority of a local-only token: worthless outside this data dir. */
  faucetSecret: string;
}

const instances: Map<string, Promise<LocalLedger>> = ((globalThis as Record<string, unknown>).__tdkLocalLedger ??= new Map()) as Map<
  string,
  Promise<LocalLedger>
>;

export class LocalLedger implements Ledger {
  readonly kind = "local" as const;
  readonly usdcMint: PublicKey;
  private readonly faucet: Keypair;
  private readonly history = new Map<string, SignatureStatus>();
  /** Blockhashes handed out, with when: the ones a transaction may still use. */
  private readonly blockhashes = new Map<string, number>();
  private persisting: Promise<void> = Promise.resolve();

  private constructor(
    private readonly svm: LiteSVM,
    meta: LedgerMeta,
    private readonly dir: string | null,
  ) {
    this.usdcMint = new PublicKey(meta.usdcMint);
    this.faucet = Keypair.fromSecretKey(fromBase58(meta.faucetSecret));
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
      const saved = await readSaved(dir);
      if (saved) return new LocalLedger(LiteSVM.fromBytes(saved.state), saved.meta, dir);
    }
    const svm = new LiteSVM();
    const faucet = Keypair.generate();
    const mint = Keypair.generate();
    svm.airdrop(address(faucet.publicKey.toBase58()), toLamports(1_000_000_000_000n));
    const ledger = new LocalLedger(svm, { usdcMint: mint.publicKey.toBase58(), faucetSecret: toBase58(faucet.secretKey) }, dir);
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
    tx.sign(faucet, mint);
    await ledger.sendTransaction(tx);
    return ledger;
  }

  async latestBlockhash() {
    const now = Date.now();
    let blockhash = this.svm.latestBlockhash();
    const issuedAt = this.blockhashes.get(blockhash);
    if (issuedAt === undefined || now - issuedAt >= SLOT_MS) {
      if (issuedAt !== undefined) this.svm.expireBlockhash();
      blockhash = this.svm.latestBlockhash();
      this.blockhashes.set(blockhash, now);
      for (const [hash, at] of this.blockhashes) if (now - at > BLOCKHASH_TTL_MS) this.blockhashes.delete(hash);
    }
    return { blockhash, lastValidBlockHeight: 0 };
  }

  /** The chain moves on: every blockhash handed out so far can no longer be used. */
  expireBlockhashes(): void {
    this.blockhashes.clear();
    this.svm.expireBlockhash();
  }

  async sendTransaction(tx: Transaction): Promise<string> {
    if (!tx.signature) throw new LedgerError("Transaction is not signed", "rejected");
    const signature = toBase58(tx.signature);
    if (!tx.recentBlockhash || !(await this.isBlockhashValid(tx.recentBlockhash))) {
      throw new LedgerError("Transaction failed: BlockhashNotFound", "rejected");
    }
    const decoded = getTransactionDecoder().decode(tx.serialize());
    const result = this.svm.sendTransaction(decoded);
    if (result instanceof FailedTransactionMetadata) {
      this.history.set(signature, "failed");
      throw new LedgerError(`Transaction failed: ${result.toString()}`, "rejected");
    }
    this.history.set(signature, "confirmed");
    await this.persist();
    return signature;
  }

  async getSignatureStatus(signature: string): Promise<SignatureStatus> {
    const known = this.history.get(signature);
    if (known) return known;
    const meta = this.svm.getTransaction(toSignature(signature));
    if (!meta) return "unknown";
    return meta instanceof FailedTransactionMetadata ? "failed" : "confirmed";
  }

  async isBlockhashValid(blockhash: string): Promise<boolean> {
    const issuedAt = this.blockhashes.get(blockhash);
    return issuedAt !== undefined && Date.now() - issuedAt <= BLOCKHASH_TTL_MS;
  }

  async getSolBalance(owner: PublicKey): Promise<bigint> {
    return BigInt(this.svm.getBalance(address(owner.toBase58())) ?? 0n);
  }

  async getUsdcBalance(owner: PublicKey): Promise<bigint> {
    return (await this.getUsdcAccount(owner)).amount;
  }

  async getUsdcAccount(owner: PublicKey): Promise<UsdcAccount> {
    const account = this.svm.getAccount(address(getAssociatedTokenAddressSync(this.usdcMint, owner, true).toBase58()));
    if (!account.exists) return { exists: false, amount: 0n, lamports: 0n };
    return { exists: true, amount: AccountLayout.decode(Buffer.from(account.data)).amount, lamports: BigInt(account.lamports) };
  }

  async tokenAccountRentLamports(): Promise<bigint> {
    return this.svm.minimumBalanceForRentExemption(BigInt(TOKEN_ACCOUNT_SIZE));
  }

  async ping(): Promise<void> {}

  /** Local faucet: mints USDC and gives SOL to `owner` (the embedded treasury's stock). */
  async fund(owner: PublicKey, usdcMicro: bigint, lamports: bigint): Promise<string> {
    const ata = getAssociatedTokenAddressSync(this.usdcMint, owner, true);
    const tx = new Transaction().add(
      createAssociatedTokenAccountIdempotentInstruction(this.faucet.publicKey, ata, owner, this.usdcMint),
    );
    if (usdcMicro > 0n) tx.add(createMintToInstruction(this.usdcMint, ata, this.faucet.publicKey, usdcMicro));
    if (lamports > 0n) tx.add(SystemProgram.transfer({ fromPubkey: this.faucet.publicKey, toPubkey: owner, lamports }));
    tx.add(nonceMemo());
    tx.feePayer = this.faucet.publicKey;
    tx.recentBlockhash = (await this.latestBlockhash()).blockhash;
    tx.sign(this.faucet);
    return this.sendTransaction(tx);
  }

  private persist(): Promise<void> {
    if (!this.dir) return Promise.resolve();
    const dir = this.dir;
    const state = this.svm.toBytes();
    const meta: LedgerMeta = { usdcMint: this.usdcMint.toBase58(), faucetSecret: toBase58(this.faucet.secretKey) };
    // Writes are chained and atomic (temp file + rename): a crash leaves the previous state whole.
    this.persisting = this.persisting.then(async () => {
      await mkdir(dir, { recursive: true });
      await writeAtomic(path.join(dir, "ledger.bin"), state);
      await writeAtomic(path.join(dir, "ledger.json"), JSON.stringify(meta), 0o600);
    });
    return this.persisting;
  }
}

async function writeAtomic(file: string, data: Uint8Array | string, mode = 0o644): Promise<void> {
  const temp = `${file}.${process.pid}.tmp`;
  await writeFile(temp, data, { mode });
  await rename(temp, file);
}

async function readSaved(dir: string): Promise<{ state: Uint8Array; meta: LedgerMeta } | null> {
  try {
    const [state, meta] = await Promise.all([readFile(path.join(dir, "ledger.bin")), readFile(path.join(dir, "ledger.json"), "utf8")]);
    return { state: new Uint8Array(state), meta: JSON.parse(meta) as LedgerMeta };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
  }
}
