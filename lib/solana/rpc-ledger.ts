import { unpackAccount } from "@solana/spl-token";
import { Connection, PublicKey, SendTransactionError, type Commitment, type Transaction } from "@solana/web3.js";
import { toBase58 } from "./base58";
import { rpcTransport } from "./rpc-transport";
import { associatedTokenAddress, splitTransactionWire } from "./signing";
import {
  BLOCKHASH_VALIDITY_BLOCKS,
  LedgerError,
  MAX_ACCOUNTS_PER_REQUEST,
  TOKEN_ACCOUNT_SIZE,
  type Ledger,
  type SignatureStatus,
  type UsdcAccount,
  type WalletBalances,
} from "./ledger";

/** How far past our `confirmed` block height the tip (another commitment level) may be. */
const COMMITMENT_MARGIN_BLOCKS = 32;

/** A real cluster through JSON-RPC (SOLANA_RPC_URL) and its USDC mint (USDC_MINT). */
export class RpcLedger implements Ledger {
  readonly kind = "rpc" as const;
  readonly usdcMint: PublicKey;
  private readonly connection: Connection;
  private rent: Promise<bigint> | undefined;

  constructor(
    rpcUrl: string,
    usdcMint: string,
    private readonly commitment: Commitment = "confirmed",
    /** How long `sendTransaction` waits for a confirmation before answering "unknown". */
    private readonly confirmTimeoutMs = 60_000,
    /** How long one RPC request may stay silent before it fails. */
    requestTimeoutMs = 30_000,
  ) {
    // Its requests over node:http rather than the global fetch (rpc-transport.ts says why).
    this.connection = new Connection(rpcUrl, { commitment, fetch: rpcTransport({ timeoutMs: requestTimeoutMs }) });
    this.usdcMint = new PublicKey(usdcMint);
  }

  latestBlockhash() {
    return this.connection.getLatestBlockhash(this.commitment);
  }

  blockHeight(): Promise<number> {
    return this.connection.getBlockHeight(this.commitment);
  }

  /**
   * A cluster does not say which block a blockhash came from, so this is a bound: a blockhash
   * someone just fetched was taken at most at the tip, which may be a few blocks past our
   * `confirmed` height (another commitment level); it lives 150 blocks after that.
   */
  async lastValidBlockHeight(_blockhash: string): Promise<number | null> {
    return (await this.blockHeight()) + BLOCKHASH_VALIDITY_BLOCKS + COMMITMENT_MARGIN_BLOCKS;
  }

  async sendTransaction(tx: Transaction): Promise<string> {
    if (!tx.signature || !tx.recentBlockhash || tx.lastValidBlockHeight === undefined) {
      throw new LedgerError("Transaction must be signed with a recent blockhash and its lastValidBlockHeight", "rejected");
    }
    return this.sendRawTransaction(tx.serialize({ verifySignatures: false }), tx.lastValidBlockHeight);
  }

  async sendRawTransaction(wire: Buffer, lastValidBlockHeight: number): Promise<string> {
    const first = splitTransactionWire(wire)?.signatures[0];
    if (!first) throw new LedgerError("Not a signed transaction", "rejected");
    const signature = toBase58(first);
    try {
      await this.connection.sendRawTransaction(wire, { preflightCommitment: this.commitment });
    } catch (error) {
      // The node answered with an error (preflight refused it): it was never forwarded to a leader.
      if (error instanceof SendTransactionError) throw new LedgerError(`Transaction refused: ${error.message}`, "rejected");
      // No answer (network, timeout): the node may have forwarded it.
      throw new LedgerError(`Transaction outcome unknown: ${(error as Error).message}`, "unknown");
    }
    // Confirmed by polling the signature's status, not by a websocket subscription: a serverless
    // function may not hold one, and a status read is what recovery relies on anyway.
    const deadline = Date.now() + this.confirmTimeoutMs;
    try {
      for (;;) {
        const [status] = await this.getSignatureStatuses([signature]);
        if (status === "confirmed") return signature;
        if (status === "failed") throw new LedgerError(`Transaction ${signature} failed on chain`, "rejected");
        // Past its last valid block height, an unknown signature can no longer land.
        if ((await this.blockHeight()) > lastValidBlockHeight) {
          throw new LedgerError(`Transaction ${signature} expired: its blockhash is past its last valid block height`, "rejected");
        }
        if (Date.now() > deadline)
          throw new LedgerError(`Transaction outcome unknown: not confirmed within ${this.confirmTimeoutMs} ms`, "unknown");
        await new Promise((resolve) => setTimeout(resolve, 400));
      }
    } catch (error) {
      if (error instanceof LedgerError) throw error;
      // The RPC failed while we waited: it may still have landed. The caller resolves it later.
      throw new LedgerError(`Transaction outcome unknown: ${(error as Error).message}`, "unknown");
    }
  }

  async getSignatureStatus(signature: string): Promise<SignatureStatus> {
    return (await this.getSignatureStatuses([signature]))[0]!;
  }

  async getSignatureStatuses(signatures: string[]): Promise<SignatureStatus[]> {
    const statuses: SignatureStatus[] = [];
    // The RPC answers at most 256 signatures a request; history searched (not only recent ones).
    for (let i = 0; i < signatures.length; i += 256) {
      const { value } = await this.connection.getSignatureStatuses(signatures.slice(i, i + 256), { searchTransactionHistory: true });
      statuses.push(
        ...value.map(
          (status): SignatureStatus =>
            !status ? "unknown" : status.err ? "failed" : status.confirmationStatus === "processed" ? "unknown" : "confirmed",
        ),
      );
    }
    return statuses;
  }

  async signaturesForAddress(owner: PublicKey): Promise<string[]> {
    const signatures: string[] = [];
    let before: string | undefined;
    for (;;) {
      const page = await this.connection.getSignaturesForAddress(owner, { before, limit: 1_000 }, "confirmed");
      signatures.push(...page.map((entry) => entry.signature));
      if (page.length < 1_000) return signatures;
      before = page.at(-1)!.signature;
    }
  }

  async usdcDelta(signature: string, owner: PublicKey): Promise<bigint | null> {
    const tx = await this.connection.getTransaction(signature, { maxSupportedTransactionVersion: 0, commitment: "confirmed" });
    if (!tx?.meta) return null;
    if (tx.meta.err) return 0n;
    const mint = this.usdcMint.toBase58();
    const amount = (balances: typeof tx.meta.preTokenBalances) =>
      BigInt(balances?.find((balance) => balance.owner === owner.toBase58() && balance.mint === mint)?.uiTokenAmount.amount ?? "0");
    return amount(tx.meta.postTokenBalances) - amount(tx.meta.preTokenBalances);
  }

  async getSolBalance(owner: PublicKey): Promise<bigint> {
    return BigInt(await this.connection.getBalance(owner, this.commitment));
  }

  async getUsdcBalance(owner: PublicKey): Promise<bigint> {
    return (await this.getUsdcAccount(owner)).amount;
  }

  async getUsdcAccount(owner: PublicKey): Promise<UsdcAccount> {
    const address = associatedTokenAddress(this.usdcMint, owner);
    const info = await this.connection.getAccountInfo(address, this.commitment);
    if (!info) return { exists: false, amount: 0n, lamports: 0n };
    return { exists: true, amount: unpackAccount(address, info).amount, lamports: BigInt(info.lamports) };
  }

  async getWalletBalances(owners: PublicKey[]): Promise<WalletBalances[]> {
    const perRequest = MAX_ACCOUNTS_PER_REQUEST / 2;
    const balances: WalletBalances[] = [];
    for (let i = 0; i < owners.length; i += perRequest) {
      const chunk = owners.slice(i, i + perRequest);
      const usdcAddresses = chunk.map((owner) => associatedTokenAddress(this.usdcMint, owner));
      const infos = await this.connection.getMultipleAccountsInfo([...chunk, ...usdcAddresses], this.commitment);
      chunk.forEach((_, j) => {
        const wallet = infos[j];
        const usdc = infos[chunk.length + j];
        balances.push({
          solLamports: BigInt(wallet?.lamports ?? 0),
          usdc: usdc
            ? { exists: true, amount: unpackAccount(usdcAddresses[j]!, usdc).amount, lamports: BigInt(usdc.lamports) }
            : { exists: false, amount: 0n, lamports: 0n },
        });
      });
    }
    return balances;
  }

  async tokenAccountRentLamports(): Promise<bigint> {
    this.rent ??= this.connection.getMinimumBalanceForRentExemption(TOKEN_ACCOUNT_SIZE, this.commitment).then(BigInt);
    return this.rent;
  }

  async ping(): Promise<void> {
    await this.connection.getSlot(this.commitment);
  }
}
