/**
 * `npm run cluster`: the production shape on this machine. Every production code path runs: the
 * local Solana cluster (JSON-RPC, its own process) instead of a real one, the local marketplace
 * over HTTP (its own process), Upstash through the REST bridge to this machine's Redis, Stripe
 * through its stand-in, PostgreSQL, and N gateway instances (`next start`) sharing all of them,
 * as Vercel runs several instances on the first busy day.
 *
 * Environment (all optional):
 *   CLUSTER_PORTS      gateway ports, comma-separated (default 3000,3001)
 *   DATABASE_URL       default postgres://postgres@127.0.0.1:5432/tdk_cluster (created if missing,
 *                      migrations applied)
 *   CLUSTER_REDIS_URL  default redis://127.0.0.1:6379
 *   CLUSTER_DATA_DIR   default .data/cluster: the chain's journal and the wallet encryption key,
 *                      kept with the database across restarts
 *   CRON_SECRET        taken from the environment (crons refuse every call without it)
 *   CLUSTER_STRIPE_SECRET_KEY  the Stripe stand-in's key (default: a random one), for a client of your own
 *   anything else the gateway reads (MARKETPLACE_CALLS_PER_WALLET_PER_MINUTE, …) is passed on.
 *
 * Prints `ready: <part> <url>` for each part and `cluster ready` last, stays in the foreground,
 * and stops everything it started on SIGINT/SIGTERM. It builds the app first when no build exists.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import pg from "pg";
import { PostgresDatabase } from "@/lib/db/postgres";
import { parseEnv } from "@/lib/env";
import { ensureEmbeddedTreasury } from "@/lib/solana/treasury";
import { startStripeStandIn, type StripeStandIn } from "@/tests/helpers/stripe-standin";
import { startUpstashBridge, type UpstashBridge } from "@/tests/helpers/upstash-bridge";
import { runAsScript, stopOnSignals } from "./cli";
import { GATEWAY_NODE_FLAGS } from "./gateway-flags";
import { LocalnetLedger, startPartProcess, startRpcProcess, type PartProcess, type RpcProcess } from "./localnet";

const root = path.resolve(__dirname, "..");
const nextBin = path.join(root, "node_modules", "next", "dist", "bin", "next");

export interface ClusterOptions {
  ports: number[];
  databaseUrl: string;
  redisUrl: string;
  dataDir: string;
  /** The environment the gateways inherit (CRON_SECRET, limits…), before the cluster's own parts. */
  env: NodeJS.ProcessEnv;
  log?: (line: string) => void;
  /** Node options for the gateways (the bench's `--cpu-prof`). */
  gatewayNodeArgs?: string[];
}

export interface GatewayInstance {
  url: string;
  pid: number;
  /** The Node flags it was started with (scripts/gateway-flags.ts, then any others). */
  nodeFlags: string[];
  /** `kill -9`. */
  kill(): void;
  output(): string;
}

export interface Cluster {
  gateways: GatewayInstance[];
  rpc: RpcProcess;
  marketplace: PartProcess;
  stripe: StripeStandIn;
  upstash: UpstashBridge;
  webhookSecret: string;
  /** The environment each gateway runs with (secrets included: for tests and the operator's shell). */
  gatewayEnv: NodeJS.ProcessEnv;
  stop(): Promise<void>;
}

export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const log = options.log ?? ((line: string) => console.log(line));
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  };
  try {
    await mkdir(options.dataDir, { recursive: true });
    await ensureDatabase(options.databaseUrl);
    log(`ready: database ${redactUrl(options.databaseUrl)}`);

    const rpc = await startRpcProcess({ dataDir: path.join(options.dataDir, "ledger") });
    stops.push(() => rpc.stop());
    log(`ready: rpc ${rpc.url} usdc_mint=${rpc.usdcMint}`);
    const marketplace = await startPartProcess("local-marketplace.ts", "marketplace", [
      "--rpc",
      rpc.url,
      "--port",
      "0",
      "--calls-per-wallet",
      options.env.MARKETPLACE_CALLS_PER_WALLET_PER_MINUTE ?? "10",
    ]);
    stops.push(() => marketplace.stop());
    log(`ready: marketplace ${marketplace.url}`);
    const upstash = await startUpstashBridge(options.redisUrl);
    stops.push(() => upstash.close());
    log(`ready: upstash ${upstash.url}`);
    const stripe = await startStripeStandIn({ secretKey: options.env.CLUSTER_STRIPE_SECRET_KEY });
    stops.push(() => stripe.close());
    log(`ready: stripe ${stripe.url}`);

    const webhookSecret = `whsec_${randomBytes(16).toString("hex")}`;
    const gatewayEnv: NodeJS.ProcessEnv = {
      ...options.env,
      NODE_ENV: "production",
      NEXT_TELEMETRY_DISABLED: "1",
      DATABASE_URL: options.databaseUrl,
      SOLANA_RPC_URL: rpc.url,
      USDC_MINT: rpc.usdcMint,
      TETTO_API_URL: marketplace.url,
      TETTO_PROTOCOL_WALLET: marketplace.details.protocol_wallet,
      UPSTASH_REDIS_REST_URL: upstash.url,
      UPSTASH_REDIS_REST_TOKEN: upstash.token,
      STRIPE_SECRET_KEY: stripe.secretKey,
      STRIPE_WEBHOOK_SECRET: webhookSecret,
      STRIPE_API_BASE: stripe.url,
      WALLET_ENCRYPTION_KEY: options.env.WALLET_ENCRYPTION_KEY ?? (await clusterEncryptionKey(options.dataDir)),
      TDK_ALLOW_EMBEDDED: "0",
      TDK_ALLOW_MEMORY_LIMITER: "0",
    };

    // Migrations once, before the instances start; the treasury created and stocked from the local faucet.
    const env = parseEnv(gatewayEnv);
    const db = await PostgresDatabase.open(options.databaseUrl);
    try {
      const treasury = await ensureEmbeddedTreasury(db, env.encryption!, new LocalnetLedger(rpc.url, rpc.usdcMint), env.treasuryFloat);
      log(`ready: treasury ${treasury.publicKey.toBase58()}`);
    } finally {
      await db.close();
    }

    ensureBuild(gatewayEnv, log);
    const gateways: GatewayInstance[] = [];
    for (const port of options.ports) {
      const gateway = await startGateway(port, gatewayEnv, options.gatewayNodeArgs);
      stops.push(gateway.stop);
      gateways.push(gateway);
      log(`ready: gateway ${gateway.url} pid=${gateway.pid} node_flags=${gateway.nodeFlags.join(",")}`);
    }
    log("cluster ready");
    return { gateways, rpc, marketplace, stripe, upstash, webhookSecret, gatewayEnv, stop: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/** Creates the database when it does not exist (connecting to the server's `postgres` database). */
async function ensureDatabase(url: string): Promise<void> {
  const name = decodeURIComponent(new URL(url).pathname.slice(1));
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`DATABASE_URL must name a plain database (got "${name}")`);
  const admin = new URL(url);
  admin.pathname = "/postgres";
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    const exists = await client.query("select 1 from pg_database where datname = $1", [name]);
    if (exists.rowCount === 0) await client.query(`create database ${name}`);
  } finally {
    await client.end();
  }
}

/** The cluster's wallet encryption key: made once, kept beside the chain it encrypts wallets of. */
async function clusterEncryptionKey(dataDir: string): Promise<string> {
  const file = path.join(dataDir, "wallet-encryption.key");
  try {
    return (await readFile(file, "utf8")).trim();
  } catch {
    const key = randomBytes(32).toString("hex");
    await writeFile(file, `${key}\n`, { mode: 0o600, flag: "wx" });
    return key;
  }
}

/** Builds the app into TDK_NEXT_DIST_DIR when it holds no build yet (or always, with `force`: the bench measures this commit). */
export function ensureBuild(env: NodeJS.ProcessEnv, log: (line: string) => void, options: { force?: boolean } = {}): void {
  const distDir = env.TDK_NEXT_DIST_DIR || ".next";
  if (!options.force && existsSync(path.join(root, distDir, "BUILD_ID"))) return;
  log(`building the app into ${distDir}${options.force ? "" : " (no build yet)"}…`);
  const build = spawnSync(process.execPath, [nextBin, "build"], { cwd: root, env: { ...env, NODE_ENV: "production" }, encoding: "utf8" });
  if (build.status !== 0) throw new Error(`next build failed:\n${build.stdout}\n${build.stderr}`);
}

/**
 * `next start` on a port with the gateway's Node flags (scripts/gateway-flags.ts) and then
 * `nodeArgs`, ready once its health route has built the whole app context.
 */
export async function startGateway(
  port: number,
  env: NodeJS.ProcessEnv,
  nodeArgs: string[] = [],
): Promise<GatewayInstance & { stop: () => Promise<void> }> {
  const nodeFlags = [...GATEWAY_NODE_FLAGS, ...nodeArgs];
  const child: ChildProcess = spawn(process.execPath, [...nodeFlags, nextBin, "start", "-p", String(port), "-H", "127.0.0.1"], {
    cwd: root,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (chunk) => (output += chunk));
  child.stderr!.on("data", (chunk) => (output += chunk));
  const url = `http://127.0.0.1:${port}`;
  const running = () => child.exitCode === null && child.signalCode === null;
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (!running()) throw new Error(`gateway on port ${port} exited:\n${output}`);
    // Ready once it serves a request that builds the whole app context (database, chain, limiter).
    const health = await fetch(`${url}/api/health`).catch(() => null);
    if (health?.ok) break;
    if (Date.now() > deadline) throw new Error(`gateway on port ${port} did not become healthy:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  // Killed with this process; the listener goes with the child, so that a bench starting dozens leaks none.
  const killWithUs = () => running() && child.kill("SIGKILL");
  process.once("exit", killWithUs);
  child.once("exit", () => process.off("exit", killWithUs));
  return {
    url,
    pid: child.pid!,
    // Kept here because /proc's command line shows only "next-server" once Next.js sets the process title.
    nodeFlags,
    output: () => output,
    kill: () => {
      if (running()) child.kill("SIGKILL");
    },
    stop: async () => {
      if (!running()) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    },
  };
}

function redactUrl(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = "***";
  return parsed.toString();
}

async function main(): Promise<void> {
  const ports = (process.env.CLUSTER_PORTS ?? "3000,3001").split(",").map((port) => Number(port.trim()));
  if (ports.some((port) => !Number.isInteger(port) || port <= 0 || port > 65_535))
    throw new Error("CLUSTER_PORTS: comma-separated port numbers, e.g. 3000,3001");
  const cluster = await startCluster({
    ports,
    databaseUrl: process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/tdk_cluster",
    redisUrl: process.env.CLUSTER_REDIS_URL ?? "redis://127.0.0.1:6379",
    dataDir: path.resolve(process.env.CLUSTER_DATA_DIR ?? path.join(".data", "cluster")),
    env: process.env,
  });
  stopOnSignals(() => cluster.stop());
}

runAsScript(__filename, main);
