import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import type { PublicKey } from "@solana/web3.js";
import { BLOCKHASH_VALIDITY_BLOCKS, type FaucetLedger } from "@/lib/solana/ledger";
import { RpcLedger } from "@/lib/solana/rpc-ledger";

/**
 * Client side of the local Solana cluster (`scripts/local-solana-rpc.ts`): starting it as its own
 * process, and the production `RpcLedger` pointed at it with the cluster's faucet and clock.
 * For the cluster script, the local marketplace process and tests; never deployed.
 */

const root = path.resolve(__dirname, "..");

/** A part of the local production shape running as its own process. */
export interface PartProcess {
  /** What its `ready:` line said: the URL first, then its `name=value` details. */
  url: string;
  details: Record<string, string>;
  pid: number;
  stop(): Promise<void>;
  /** Kills it as `kill -9` would. */
  kill(): void;
  /** Pauses (SIGSTOP) or resumes (SIGCONT) it: a part that hangs. */
  pause(paused: boolean): void;
  output(): string;
}

/**
 * Starts `node --import tsx <script> <args>` (one process, so a kill reaches it) and waits for its
 * `ready: <part> <url> name=value…` line.
 */
export async function startPartProcess(
  script: string,
  part: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<PartProcess> {
  const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", path.join(root, "scripts", script), ...args], {
    cwd: root,
    stdio: ["ignore", "pipe", "pipe"],
    env,
  });
  let output = "";
  const ready = new Promise<{ url: string; details: Record<string, string> }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${part} did not start:\n${output}`)), 60_000);
    const pattern = new RegExp(`ready: ${part} (\\S+)((?: \\S+=\\S+)*)`);
    child.stdout!.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      const match = pattern.exec(output);
      if (match) {
        clearTimeout(timer);
        const details = Object.fromEntries(
          match[2]!
            .trim()
            .split(/\s+/)
            .filter(Boolean)
            .map((pair) => pair.split("=") as [string, string]),
        );
        resolve({ url: match[1]!, details });
      }
    });
    child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${part} exited (${code}):\n${output}`));
    });
  });
  const running = () => child.exitCode === null && child.signalCode === null;
  const kill = () => {
    if (running()) child.kill("SIGKILL");
  };
  // Killed with this process; the listener goes with the child, so that a bench starting dozens leaks none.
  process.once("exit", kill);
  child.once("exit", () => process.off("exit", kill));
  const started = await ready;
  return {
    ...started,
    pid: child.pid!,
    output: () => output,
    kill,
    pause: (paused) => {
      if (running()) child.kill(paused ? "SIGSTOP" : "SIGCONT");
    },
    stop: async () => {
      if (!running()) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGCONT");
      child.kill("SIGTERM");
      await exited;
    },
  };
}

export interface RpcProcess extends PartProcess {
  usdcMint: string;
}

/** The local Solana cluster (`scripts/local-solana-rpc.ts`) in its own process. */
export async function startRpcProcess(options: { dataDir?: string; port?: number } = {}): Promise<RpcProcess> {
  const args = ["--port", String(options.port ?? 0), ...(options.dataDir ? ["--data-dir", options.dataDir] : [])];
  const started = await startPartProcess("local-solana-rpc.ts", "rpc", args);
  return { ...started, usdcMint: started.details.usdc_mint! };
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
    const response = await fetch(this.url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
    });
    const body = (await response.json()) as { result?: T; error?: { message: string } };
    if (body.error) throw new Error(`${method}: ${body.error.message}`);
    return body.result as T;
  }

  fund(owner: PublicKey, usdcMicro: bigint, lamports: bigint): Promise<string> {
    return this.rpc("localnet_fund", [owner.toBase58(), usdcMicro.toString(), lamports.toString()]);
  }

  /** The faucet for many owners (benchmarks), 1,000 a request; returns the transactions it took. */
  async fundMany(owners: PublicKey[], usdcMicro: bigint, lamports: bigint): Promise<number> {
    let transactions = 0;
    for (let i = 0; i < owners.length; i += 1_000) {
      transactions += await this.rpc<number>("localnet_fundMany", [
        owners.slice(i, i + 1_000).map((owner) => owner.toBase58()),
        usdcMicro.toString(),
        lamports.toString(),
      ]);
    }
    return transactions;
  }

  /**
   * The chain moves on past every blockhash handed out so far, and past the bound RpcLedger gives
   * a blockhash it cannot date (150 blocks + 32 of commitment margin).
   */
  async expireBlockhashes(): Promise<void> {
    await this.rpc("localnet_expireBlockhashes", [BLOCKHASH_VALIDITY_BLOCKS + 32 + 2]);
  }
}
