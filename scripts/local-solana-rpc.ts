/**
 * A local Solana cluster for development and tests: the embedded ledger (LiteSVM, a slot every
 * 400 ms, blockhashes living 150 blocks, a local USDC mint) behind Solana's JSON-RPC over HTTP, in
 * its own process. The gateway's production chain code (`RpcLedger`, web3.js `Connection`) runs
 * against it unchanged. Not production code: nothing here is deployed.
 *
 *   npm run local-rpc -- [--port 8899] [--host 127.0.0.1] [--data-dir DIR]
 *
 * prints `ready: rpc http://HOST:PORT usdc_mint=<mint>` once it listens.
 *
 * Standard methods (what web3.js and @solana/kit call here): getLatestBlockhash, isBlockhashValid,
 * getBlockHeight, getSlot, getEpochInfo, sendTransaction (preflight unless skipPreflight),
 * simulateTransaction, getSignatureStatuses (recent, or the whole history with
 * searchTransactionHistory), getSignaturesForAddress, getTransaction (json), getBalance,
 * getAccountInfo, getMultipleAccounts, getTokenAccountBalance, getMinimumBalanceForRentExemption,
 * getFeeForMessage, requestAirdrop, getHealth, getVersion, getGenesisHash.
 * Local faucet and clock: localnet_getInfo, localnet_fund [owner, usdcMicro, lamports],
 * localnet_fundMany [owners (at most 1,000), usdcMicro, lamports],
 * localnet_expireBlockhashes [slots?] (the chain moves on past every blockhash handed out so far).
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { AccountLayout, MintLayout, TOKEN_PROGRAM_ID } from "@solana/spl-token";
import { Message, PublicKey, Transaction } from "@solana/web3.js";
import { fromBase58, toBase58 } from "@/lib/solana/base58";
import { BLOCKHASH_VALIDITY_BLOCKS, LAMPORTS_PER_SIGNATURE, LedgerError } from "@/lib/solana/ledger";
import { LocalLedger } from "@/lib/solana/local-ledger";
import { argument, runAsScript, stopOnSignals } from "./cli";

/** Signature statuses without `searchTransactionHistory` cover this many recent slots (a cluster's status cache). */
const STATUS_CACHE_SLOTS = 300;

class RpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
  }
}

interface TokenBalance {
  accountIndex: number;
  mint: string;
  owner: string;
  programId: string;
  uiTokenAmount: { amount: string; decimals: number; uiAmount: number; uiAmountString: string };
}

/** What a transaction did, kept for getTransaction (balances before and after, as a cluster's meta has them). */
interface TransactionMeta {
  err: unknown;
  fee: number;
  preBalances: number[];
  postBalances: number[];
  preTokenBalances: TokenBalance[];
  postTokenBalances: TokenBalance[];
  logMessages: string[];
  computeUnitsConsumed: number;
  blockTime: number;
}

export interface LocalSolanaRpc {
  url: string;
  usdcMint: string;
  close(): Promise<void>;
}

export async function startLocalSolanaRpc(
  options: { port?: number; host?: string; dataDir?: string | null } = {},
): Promise<LocalSolanaRpc> {
  const ledger = await LocalLedger.open(options.dataDir ?? null);
  const metas = new Map<string, TransactionMeta>();
  const decimalsOf = new Map<string, number>();

  const context = async () => ({ slot: await ledger.blockHeight(), apiVersion: "2.1.0" });
  const withContext = async (value: unknown) => ({ context: await context(), value });

  const mintDecimals = (mint: string): number => {
    let decimals = decimalsOf.get(mint);
    if (decimals === undefined) {
      const account = ledger.account(new PublicKey(mint));
      decimals = account && account.data.length >= MintLayout.span ? MintLayout.decode(Buffer.from(account.data)).decimals : 0;
      decimalsOf.set(mint, decimals);
    }
    return decimals;
  };

  const tokenAmount = (amount: bigint, decimals: number) => {
    const ui = Number(amount) / 10 ** decimals;
    return { amount: amount.toString(), decimals, uiAmount: ui, uiAmountString: String(ui) };
  };

  const balances = (keys: PublicKey[]) => {
    const lamports: number[] = [];
    const tokens: TokenBalance[] = [];
    keys.forEach((key, accountIndex) => {
      const account = ledger.account(key);
      lamports.push(account ? Number(account.lamports) : 0);
      if (account && account.owner === TOKEN_PROGRAM_ID.toBase58() && account.data.length === AccountLayout.span) {
        const token = AccountLayout.decode(Buffer.from(account.data));
        const mint = token.mint.toBase58();
        tokens.push({
          accountIndex,
          mint,
          owner: token.owner.toBase58(),
          programId: TOKEN_PROGRAM_ID.toBase58(),
          uiTokenAmount: tokenAmount(token.amount, mintDecimals(mint)),
        });
      }
    });
    return { lamports, tokens };
  };

  const encodedAccount = (key: PublicKey) => {
    const account = ledger.account(key);
    if (!account) return null;
    return {
      data: [Buffer.from(account.data).toString("base64"), "base64"],
      executable: account.executable,
      lamports: Number(account.lamports),
      owner: account.owner,
      rentEpoch: 0,
      space: account.data.length,
    };
  };

  const decodeTransaction = (encoded: unknown, encoding: unknown): Transaction => {
    if (typeof encoded !== "string") throw new RpcError(-32602, "Invalid params: transaction must be a string");
    let bytes: Buffer;
    try {
      bytes = encoding === "base64" ? Buffer.from(encoded, "base64") : Buffer.from(fromBase58(encoded));
    } catch {
      throw new RpcError(-32602, `Invalid params: not ${encoding === "base64" ? "base64" : "base58"}`);
    }
    try {
      return Transaction.from(bytes);
    } catch {
      throw new RpcError(-32602, "Invalid params: failed to deserialize a legacy transaction");
    }
  };

  const send = async (tx: Transaction, skipPreflight: boolean): Promise<string> => {
    if (!tx.signature) throw new RpcError(-32602, "Invalid params: the transaction is not signed");
    const signature = toBase58(tx.signature);
    const simulated = ledger.simulate(tx);
    if (!skipPreflight) {
      if (simulated.err) {
        const reason =
          simulated.err === "BlockhashNotFound"
            ? "Blockhash not found"
            : simulated.err === "AlreadyProcessed"
              ? "This transaction has already been processed"
              : JSON.stringify(simulated.err);
        throw new RpcError(-32002, `Transaction simulation failed: ${reason}`, {
          err: simulated.err,
          logs: simulated.logs,
          accounts: null,
          unitsConsumed: simulated.unitsConsumed,
        });
      }
    }
    const keys = tx.compileMessage().accountKeys;
    const before = balances(keys);
    try {
      await ledger.sendTransaction(tx);
    } catch (error) {
      // Never forwarded (an unknown blockhash, a duplicate): a cluster drops it without a word.
      if (!(error instanceof LedgerError) || ledger.transaction(signature) === null) return signature;
    }
    const record = ledger.transaction(signature)!;
    const after = balances(keys);
    metas.set(signature, {
      err: record.status === "failed" ? (simulated.err ?? "TransactionFailed") : null,
      fee: Number(LAMPORTS_PER_SIGNATURE) * tx.signatures.length,
      preBalances: before.lamports,
      postBalances: after.lamports,
      preTokenBalances: before.tokens,
      postTokenBalances: after.tokens,
      logMessages: simulated.logs,
      computeUnitsConsumed: simulated.unitsConsumed,
      blockTime: Math.floor(Date.now() / 1000),
    });
    return signature;
  };

  const statusOf = (signature: string, slotNow: number, searchHistory: boolean) => {
    const record = ledger.transaction(signature);
    if (!record || (!searchHistory && slotNow - record.slot > STATUS_CACHE_SLOTS)) return null;
    const err = record.status === "failed" ? (metas.get(signature)?.err ?? "TransactionFailed") : null;
    return { slot: record.slot, confirmations: null, err, status: err ? { Err: err } : { Ok: null }, confirmationStatus: "finalized" };
  };

  const methods: Record<string, (params: unknown[]) => Promise<unknown>> = {
    getHealth: async () => "ok",
    getVersion: async () => ({ "solana-core": "2.1.0", "feature-set": 0 }),
    getGenesisHash: async () => ledger.usdcMint.toBase58(),
    getSlot: async () => ledger.blockHeight(),
    getBlockHeight: async () => ledger.blockHeight(),
    getEpochInfo: async () => {
      const slot = await ledger.blockHeight();
      return {
        absoluteSlot: slot,
        blockHeight: slot,
        epoch: Math.floor(slot / 432_000),
        slotIndex: slot % 432_000,
        slotsInEpoch: 432_000,
        transactionCount: null,
      };
    },
    getLatestBlockhash: async () => withContext(await ledger.latestBlockhash()),
    isBlockhashValid: async ([blockhash]) => {
      const last = await ledger.lastValidBlockHeight(String(blockhash));
      return withContext(last !== null && (await ledger.blockHeight()) <= last);
    },
    getMinimumBalanceForRentExemption: async ([size]) => Number(ledger.rentExemptMinimum(Number(size ?? 0))),
    getFeeForMessage: async ([message]) => {
      const parsed = Message.from(Buffer.from(String(message), "base64"));
      const known = await ledger.lastValidBlockHeight(parsed.recentBlockhash);
      return withContext(known === null ? null : Number(LAMPORTS_PER_SIGNATURE) * parsed.header.numRequiredSignatures);
    },
    getBalance: async ([owner]) => withContext(Number(await ledger.getSolBalance(publicKey(owner)))),
    getAccountInfo: async ([owner]) => withContext(encodedAccount(publicKey(owner))),
    getMultipleAccounts: async ([owners]) => {
      if (!Array.isArray(owners) || owners.length > 100) throw new RpcError(-32602, "Invalid params: at most 100 accounts");
      return withContext(owners.map((owner) => encodedAccount(publicKey(owner))));
    },
    getTokenAccountBalance: async ([owner]) => {
      const account = ledger.account(publicKey(owner));
      if (!account || account.owner !== TOKEN_PROGRAM_ID.toBase58() || account.data.length !== AccountLayout.span) {
        throw new RpcError(-32602, "Invalid param: not a Token account");
      }
      const token = AccountLayout.decode(Buffer.from(account.data));
      return withContext(tokenAmount(token.amount, mintDecimals(token.mint.toBase58())));
    },
    sendTransaction: async ([encoded, config]) => {
      const options = (config ?? {}) as { encoding?: string; skipPreflight?: boolean };
      return send(decodeTransaction(encoded, options.encoding), options.skipPreflight === true);
    },
    simulateTransaction: async ([encoded, config]) => {
      const options = (config ?? {}) as { encoding?: string; sigVerify?: boolean };
      const simulated = ledger.simulate(decodeTransaction(encoded, options.encoding), { sigVerify: options.sigVerify === true });
      return withContext({
        err: simulated.err,
        logs: simulated.logs,
        accounts: null,
        unitsConsumed: simulated.unitsConsumed,
        returnData: null,
      });
    },
    getSignatureStatuses: async ([signatures, config]) => {
      if (!Array.isArray(signatures) || signatures.length > 256) throw new RpcError(-32602, "Invalid params: at most 256 signatures");
      const slotNow = await ledger.blockHeight();
      const searchHistory = (config as { searchTransactionHistory?: boolean } | undefined)?.searchTransactionHistory === true;
      return withContext(signatures.map((signature) => statusOf(String(signature), slotNow, searchHistory)));
    },
    getSignaturesForAddress: async ([owner, config]) => {
      const options = (config ?? {}) as { before?: string; until?: string; limit?: number };
      let signatures = await ledger.signaturesForAddress(publicKey(owner));
      if (options.before) signatures = signatures.slice(signatures.indexOf(options.before) + 1 || signatures.length);
      if (options.until) {
        const until = signatures.indexOf(options.until);
        if (until >= 0) signatures = signatures.slice(0, until);
      }
      return signatures.slice(0, Math.min(options.limit ?? 1_000, 1_000)).map((signature) => {
        const record = ledger.transaction(signature)!;
        const err = record.status === "failed" ? (metas.get(signature)?.err ?? "TransactionFailed") : null;
        return {
          signature,
          slot: record.slot,
          err,
          memo: null,
          blockTime: metas.get(signature)?.blockTime ?? null,
          confirmationStatus: "finalized",
        };
      });
    },
    getTransaction: async ([signature]) => {
      const record = ledger.transaction(String(signature));
      const meta = metas.get(String(signature));
      // A transaction from before this process started has no recorded meta: answered as unknown.
      if (!record || !meta) return null;
      const tx = Transaction.from(Buffer.from(record.raw, "base64"));
      const message = tx.compileMessage();
      return {
        slot: record.slot,
        blockTime: meta.blockTime,
        version: "legacy",
        transaction: {
          signatures: tx.signatures.map((entry) => (entry.signature ? toBase58(entry.signature) : "1".repeat(64))),
          message: {
            header: message.header,
            accountKeys: message.accountKeys.map((key) => key.toBase58()),
            recentBlockhash: message.recentBlockhash,
            instructions: message.instructions.map((ix) => ({
              programIdIndex: ix.programIdIndex,
              accounts: ix.accounts,
              data: ix.data,
              stackHeight: null,
            })),
          },
        },
        meta: {
          err: meta.err,
          status: meta.err ? { Err: meta.err } : { Ok: null },
          fee: meta.fee,
          preBalances: meta.preBalances,
          postBalances: meta.postBalances,
          innerInstructions: [],
          logMessages: meta.logMessages,
          preTokenBalances: meta.preTokenBalances,
          postTokenBalances: meta.postTokenBalances,
          rewards: [],
          loadedAddresses: { writable: [], readonly: [] },
          computeUnitsConsumed: meta.computeUnitsConsumed,
        },
      };
    },
    requestAirdrop: async ([owner, lamports]) => ledger.fund(publicKey(owner), 0n, BigInt(Number(lamports))),
    localnet_getInfo: async () => ({
      usdcMint: ledger.usdcMint.toBase58(),
      slotMs: 400,
      blockhashValidityBlocks: BLOCKHASH_VALIDITY_BLOCKS,
    }),
    localnet_fund: async ([owner, usdcMicro, lamports]) =>
      ledger.fund(publicKey(owner), BigInt(String(usdcMicro ?? "0")), BigInt(String(lamports ?? "0"))),
    localnet_fundMany: async ([owners, usdcMicro, lamports]) => {
      if (!Array.isArray(owners) || owners.length > 1_000) throw new RpcError(-32602, "Invalid params: at most 1,000 owners");
      return ledger.fundMany(owners.map(publicKey), BigInt(String(usdcMicro ?? "0")), BigInt(String(lamports ?? "0")));
    },
    localnet_expireBlockhashes: async ([slots]) => {
      ledger.expireBlockhashes(typeof slots === "number" ? slots : undefined);
      return ledger.blockHeight();
    },
  };

  const answer = async (request: unknown): Promise<unknown> => {
    const { id = null, method, params = [] } = (request ?? {}) as { id?: unknown; method?: unknown; params?: unknown };
    try {
      const handler = typeof method === "string" ? methods[method] : undefined;
      if (!handler) throw new RpcError(-32601, `Method not found: ${String(method)}`);
      return { jsonrpc: "2.0", id, result: await handler(Array.isArray(params) ? params : []) };
    } catch (error) {
      const rpc = error instanceof RpcError ? error : new RpcError(-32603, `Internal error: ${(error as Error).message}`);
      return { jsonrpc: "2.0", id, error: { code: rpc.code, message: rpc.message, ...(rpc.data === undefined ? {} : { data: rpc.data }) } };
    }
  };

  // One request at a time: the ledger is one LiteSVM, and a cluster orders transactions too.
  let queue: Promise<unknown> = Promise.resolve();
  const serialised = <T>(work: () => Promise<T>): Promise<T> => {
    const result = queue.then(work, work);
    queue = result.catch(() => undefined);
    return result;
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", async () => {
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      } catch {
        res
          .writeHead(200, { "content-type": "application/json" })
          .end(JSON.stringify({ jsonrpc: "2.0", id: null, error: { code: -32700, message: "Parse error" } }));
        return;
      }
      const result = await serialised(() => (Array.isArray(body) ? Promise.all(body.map(answer)) : answer(body)));
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(result));
    });
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, options.host ?? "127.0.0.1", resolve));
  const { address, port } = server.address() as AddressInfo;
  return {
    url: `http://${address}:${port}`,
    usdcMint: ledger.usdcMint.toBase58(),
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await ledger.close();
    },
  };
}

function publicKey(value: unknown): PublicKey {
  try {
    return new PublicKey(String(value));
  } catch {
    throw new RpcError(-32602, `Invalid param: ${String(value).slice(0, 64)} is not a public key`);
  }
}

async function main(): Promise<void> {
  const dataDir = argument("data-dir");
  const rpc = await startLocalSolanaRpc({
    port: Number(argument("port") ?? 8899),
    host: argument("host") ?? "127.0.0.1",
    dataDir: dataDir ? path.resolve(dataDir) : null,
  });
  console.log(`ready: rpc ${rpc.url} usdc_mint=${rpc.usdcMint}`);
  stopOnSignals(() => rpc.close());
}

runAsScript(__filename, main);
