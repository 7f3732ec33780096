import type { PublicKey, Transaction } from "@solana/web3.js";

export const LAMPORTS_PER_SOL = 1_000_000_000n;

export type SignatureStatus = "confirmed" | "failed" | "unknown";

/**
 * How many blocks a blockhash stays usable after the block it was taken from (Solana's 150, about
 * 60 seconds). Past its last valid block height, a transaction with it can never land.
 */
export const BLOCKHASH_VALIDITY_BLOCKS = 150;

/**
 * The base fee per signature a transaction pays (Solana's, and LiteSVM's default). The gateway
 * adds no priority fee, so a transaction costs its fee payer exactly this times its signatures.
 */
export const LAMPORTS_PER_SIGNATURE = 5_000n;

/** Size of an SPL token account: its rent-exempt minimum is what creating one costs. */
export const TOKEN_ACCOUNT_SIZE = 165;

/** An owner's associated USDC account: whether it exists, its balance, and the rent it holds. */
export interface UsdcAccount {
  exists: boolean;
  amount: bigint;
  lamports: bigint;
}

/** A wallet's SOL and its USDC account, as one batched read returns them. */
export interface WalletBalances {
  solLamports: bigint;
  usdc: UsdcAccount;
}

/** Accounts one `getMultipleAccounts` request may ask for (Solana's limit). */
export const MAX_ACCOUNTS_PER_REQUEST = 100;

/**
 * The chain as the gateway needs it. Two implementations: the in-process local ledger (LiteSVM,
 * the embedded default) and an RPC ledger (SOLANA_RPC_URL). Transactions are web3.js v1 objects,
 * built and signed by the caller; the ledger only sends and reads.
 */
export interface Ledger {
  readonly kind: "local" | "rpc";
  readonly usdcMint: PublicKey;
  latestBlockhash(): Promise<{ blockhash: string; lastValidBlockHeight: number }>;
  /** The chain's block height now: a transaction whose last valid block height is below it can never land. */
  blockHeight(): Promise<number>;
  /**
   * The block height after which a transaction with this blockhash can no longer land: exact when
   * the chain remembers the blockhash, otherwise a safe upper bound (a blockhash just fetched was
   * taken at or below the current height); null when no bound can be given.
   */
  lastValidBlockHeight(blockhash: string): Promise<number | null>;
  /** Sends a fully signed transaction and waits for it; throws LedgerError (`rejected` means it did not land). */
  sendTransaction(tx: Transaction): Promise<string>;
  /**
   * The same for a signed legacy transaction's wire bytes as they were received (a marketplace
   * submitting what a wallet signed): nothing is decoded into a web3.js Transaction and compiled again.
   */
  sendRawTransaction(wire: Buffer, lastValidBlockHeight: number): Promise<string>;
  /** From the chain's whole history, not only its recent transactions. */
  getSignatureStatus(signature: string): Promise<SignatureStatus>;
  getSignatureStatuses(signatures: string[]): Promise<SignatureStatus[]>;
  /** Every transaction that touched this address, newest first (the whole history). */
  signaturesForAddress(address: PublicKey): Promise<string[]>;
  /** What a landed transaction moved into (positive) or out of (negative) the owner's USDC account; null if unknown. */
  usdcDelta(signature: string, owner: PublicKey): Promise<bigint | null>;
  getSolBalance(owner: PublicKey): Promise<bigint>;
  /** USDC in the owner's associated token account, 0 when it has none. */
  getUsdcBalance(owner: PublicKey): Promise<bigint>;
  getUsdcAccount(owner: PublicKey): Promise<UsdcAccount>;
  /**
   * Many wallets' balances, in the order asked: on RPC, batched `getMultipleAccounts` requests (a
   * wallet and its USDC account, 50 wallets a request) instead of two requests a wallet. What the
   * crons walking every wallet read with.
   */
  getWalletBalances(owners: PublicKey[]): Promise<WalletBalances[]>;
  /** Lamports it costs to create a token account (rent-exempt minimum). */
  tokenAccountRentLamports(): Promise<bigint>;
  ping(): Promise<void>;
}

/**
 * A local chain with a faucet (mints its local USDC, gives SOL): the embedded ledger, or the local
 * JSON-RPC cluster of `scripts/local-solana-rpc.ts`. What the embedded treasury and the local
 * marketplace are stocked from; never a real cluster.
 */
export interface FaucetLedger extends Ledger {
  fund(owner: PublicKey, usdcMicro: bigint, lamports: bigint): Promise<string>;
}

export class LedgerError extends Error {
  constructor(
    message: string,
    /** rejected: the transaction certainly did not land. unknown: it may have (timeout, network). */
    readonly outcome: "rejected" | "unknown",
  ) {
    super(message);
    this.name = "LedgerError";
  }
}
