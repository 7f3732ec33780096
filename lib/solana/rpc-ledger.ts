import { getAssociatedTokenAddressSync, unpackAccount } from "@solana/spl-token";
import { Connection, PublicKey, type Commitment, type Transaction } from "@solana/web3.js";
import { toBase58 } from "./base58";
import { LedgerError, TOKEN_ACCOUNT_SIZE, type Ledger, type SignatureStatus, type UsdcAccount } from "./ledger";

/** A real cluster through JSON-RPC (SOLANA_RPC_URL) and its USDC mint (USDC_MINT). */
export class RpcLedger implements Ledger {
  readonly kind = "rpc" as const;
  readonly usdcMint: PublicKey;
  private readonly connection: Connection;
  private rent: Promise<bigint> | undefined;

  constructor(rpcUrl: string, usdcMint: string, private readonly commitment: Commitment = "confirmed") {
    this.connection = new Connection(rpcUrl, commitment);
    this.usdcMint = new PublicKey(usdcMint);
  }

  latestBlockhash() {
    return this.connection.getLatestBlockhash(this.commitment);
  }

  async sendTransaction(tx: Transaction): Promise<string> {
    if (!tx.signature || !tx.recentBlockhash || tx.lastValidBlockHeight === undefined) {
      throw new LedgerError("Transaction must be signed with a recent blockhash and its lastValidBlockHeight", "rejected");
    }
    const signature = toBase58(tx.signature);
    try {
      await this.connection.sendRawTransaction(tx.serialize(), { preflightCommitment: this.commitment });
    } catch (error) {
      // Preflight refused it: it was never forwarded to a leader.
      throw new LedgerError(`Transaction refused: ${(error as Error).message}`, "rejected");
    }
    try {
      const { value } = await this.connection.confirmTransaction(
        { signature, blockhash: tx.recentBlockhash, lastValidBlockHeight: tx.lastValidBlockHeight },
        this.commitment,
      );
      if (value.err) throw new LedgerError(`Transaction failed: ${JSON.stringify(value.err)}`, "rejected");
      return signature;
    } catch (error) {
      if (error instanceof LedgerError) throw error;
      // Expired or timed out while waiting: it may still have landed. The caller resolves it later.
      throw new LedgerError(`Transaction outcome unknown: ${(error as Error).message}`, "unknown");
    }
  }

  async getSignatureStatus(signature: string): Promise<SignatureStatus> {
    const { value } = await this.connection.getSignatureStatus(signature, { searchTransactionHistory: true });
    if (!value) return "unknown";
    if (value.err) return "failed";
    return value.confirmationStatus === "confirmed" || value.confirmationStatus === "finalized" ? "confirmed" : "unknown";
  }

  async isBlockhashValid(blockhash: string): Promise<boolean> {
    return (await this.connection.isBlockhashValid(blockhash, { commitment: this.commitment })).value;
  }

  async getSolBalance(owner: PublicKey): Promise<bigint> {
    return BigInt(await this.connection.getBalance(owner, this.commitment));
  }

  async getUsdcBalance(owner: PublicKey): Promise<bigint> {
    return (await this.getUsdcAccount(owner)).amount;
  }

  async getUsdcAccount(owner: PublicKey): Promise<UsdcAccount> {
    const address = getAssociatedTokenAddressSync(this.usdcMint, owner, true);
    const info = await this.connection.getAccountInfo(address, this.commitment);
    if (!info) return { exists: false, amount: 0n, lamports: 0n };
    return { exists: true, amount: unpackAccount(address, info).amount, lamports: BigInt(info.lamports) };
  }

  async tokenAccountRentLamports(): Promise<bigint> {
    this.rent ??= this.connection.getMinimumBalanceForRentExemption(TOKEN_ACCOUNT_SIZE, this.commitment).then(BigInt);
    return this.rent;
  }

  async ping(): Promise<void> {
    await this.connection.getSlot(this.commitment);
  }
}
