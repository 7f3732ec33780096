import { spawn, type ChildProcess } from "node:child_process";
import { afterAll } from "vitest";
import path from "node:path";
import { PublicKey } from "@solana/web3.js";
import { BLOCKHASH_VALIDITY_BLOCKS, type FaucetLedger } from "@/lib/solana/ledger";
import { RpcLedger } from "@/lib/solana/rpc-ledger";

/**
 * The local Solana JSON-RPC cluster (`scripts/local-solana-rpc.ts`) as its own process, and the
 * production `RpcLedger` pointed at it, with the cluster's faucet and clock for tests.
 */

const root = path.resolve(__dirname, "..", "..");

export interface RpcProcess {
  url: string;
  usdcMint: string;
  stop(): Promise<void>;
  /** Kills it as `kill -9` would. */
  kill(): void;
  output(): string;
}

export async function startRpcProcess(options: { dataDir?: string } = {}): Promise<RpcProcess> {
  const args = ["--import", "tsx", path.join(root, "scripts", "local-solana-rpc.ts"), "--port", "0", ...(options.dataDir ? ["--data-dir", options.dataDir] : [])];
  const child: ChildProcess = spawn(process.execPath, args, { cwd: root, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env } });
  let output = "";
  const ready = new Promise<{ url: string; usdcMint: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`local Solana RPC did not start:\n${output}`)), 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /ready: rpc (\S+) usdc_mint=(\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve({ url: match[1]!, usdcMint: match[2]! });
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`local Solana RPC exited (${code}):\n${output}`));
    });
  });
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  };
  process.once("exit", kill);
  const started = await ready;
  return {
    ...started,
    output: () => output,
    kill,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    },
  };
}

/** `RpcLedger` on the local cluster, plus its faucet and clock (what the embedded ledger offers tests). */
export class LocalnetLedger extends RpcLedger implements FaucetLedger {
  constructor(
    private readonly url: string,
    usdcMint: string,
  ) {
    super(url, usdcMint, "confirmed", 20_000);
  }

  private async rpc<T>(method: string, params: unknown[]): Promise<T> {
    const response = await fetch(this.url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }) });
    const body = (await response.json()) as { result?: T; error?: { message: string } };
    if (body.error) throw new Error(`${method}: ${body.error.message}`);
    return body.result as T;
  }

  fund(owner: PublicKey, usdcMicro: bigint, lamports: bigint): Promise<string> {
    return this.rpc("localnet_fund", [owner.toBase58(), usdcMicro.toString(), lamports.toString()]);
  }

  /**
   * The chain moves on past every blockhash handed out so far, and past the bound RpcLedger gives
   * a blockhash it cannot date (150 blocks + 32 of commitment margin).
   */
  async expireBlockhashes(): Promise<void> {
    await this.rpc("localnet_expireBlockhashes", [BLOCKHASH_VALIDITY_BLOCKS + 32 + 2]);
  }
}

let shared: Promise<RpcProcess> | null = null;

/** One local cluster per test file, started on first use and stopped when the file is done. */
export function sharedRpcProcess(): Promise<RpcProcess> {
  shared ??= startRpcProcess();
  return shared;
}

// Registered while the test file that imports this helper is collected: it runs after that file.
afterAll(async () => {
  const running = shared;
  shared = null;
  await (await running?.catch(() => null))?.stop();
});
