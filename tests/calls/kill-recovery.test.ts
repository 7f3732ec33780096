import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PublicKey } from "@solana/web3.js";
import { PGliteDatabase } from "@/lib/db/pglite";
import { reconcile } from "@/lib/ops/reconcile";
import { LocalLedger } from "@/lib/solana/local-ledger";
import { sql } from "../helpers/app";

/**
 * `kill -9` at random points of a paid-call load on the embedded defaults (a gateway in a child
 * process, eight calls in flight), several rounds, each followed by a restart; then recovery. The
 * chain and the usage rows must agree to the micro-dollar: checked wallet by wallet, and by
 * reconcile (every signature against the chain's whole history, every wallet's history against
 * the rows).
 */
const root = path.resolve(__dirname, "..", "..");
const ROUNDS = 4;

let dataDir: string;
const env = () => ({
  ...process.env,
  NODE_ENV: "test",
  TDK_DATA_DIR: dataDir,
  WALLET_ENCRYPTION_KEY: encryptionKey,
  NEXT_TELEMETRY_DISABLED: "1",
});
const encryptionKey = randomBytes(32).toString("hex");

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), "tdk-kill-"));
});
afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

function start(mode: "load" | "recover"): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  // tsx as a loader in this very process: its CLI would run the script in a grandchild, which a
  // SIGKILL to the CLI leaves running.
  const child = spawn(process.execPath, ["--import", "tsx", path.join(__dirname, "..", "helpers", "paid-call-load.ts"), mode], {
    cwd: root,
    env: env() as NodeJS.ProcessEnv,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  child.stdout!.on("data", (chunk) => (log += chunk));
  child.stderr!.on("data", (chunk) => (log += chunk));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, output: () => log, exited };
}

async function until(condition: () => boolean, what: string, timeoutMs = 90_000) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("kill -9 under a paid-call load, restart, recovery", () => {
  it(`${ROUNDS} rounds: no payment lost or made twice; the chain equals the usage rows to the micro-dollar`, async () => {
    for (let round = 0; round < ROUNDS; round += 1) {
      const load = start("load");
      await until(() => /calls \d+/.test(load.output()) || load.child.exitCode !== null, "the load's first calls", 120_000);
      expect(load.child.exitCode, load.output()).toBeNull();
      // Kill at a random moment of the load, calls in flight: 0.3 to 2.5 seconds into it.
      await new Promise((resolve) => setTimeout(resolve, 300 + Math.floor(Math.random() * 2_200)));
      load.child.kill("SIGKILL");
      await load.exited;
    }

    const recovery = start("recover");
    expect(await recovery.exited, recovery.output()).toBe(0);
    const summary = JSON.parse(recovery.output().trim().split("\n").at(-1)!) as { fundings: number; resolved: number; pending: number };
    expect(summary.pending).toBe(0);

    // The gateway is down: its database and chain are read from the data dir here.
    const db = await PGliteDatabase.open(path.join(dataDir, "pglite"));
    const ledger = await LocalLedger.open(path.join(dataDir, "ledger"));
    try {
      expect(await sql(db, "select id from tdk_usage where status = 'pending'")).toEqual([]);
      expect(await sql(db, "select id from tdk_wallet_fundings where status = 'pending'")).toEqual([]);
      const [{ calls }] = (await sql<{ calls: number }>(
        db,
        "select count(*)::int as calls from tdk_usage where status in ('succeeded', 'agent_failed')",
      )) as [{ calls: number }];
      expect(calls).toBeGreaterThan(50);

      // Wallet by wallet: what the chain holds is what landed in, less what the paid rows say was paid.
      const wallets = await sql<{ wallet: string; funded: string; paid: string }>(
        db,
        `select k.wallet_public_key as wallet,
                coalesce((select sum(usdc_micro) from tdk_wallet_fundings f where f.api_key_id = k.id and f.status = 'confirmed'), 0)::text as funded,
                coalesce((select sum(agent_cost_micro) from tdk_usage u where u.api_key_id = k.id and u.status in ('succeeded', 'agent_failed')), 0)::text as paid
           from tdk_api_keys k`,
      );
      expect(wallets).toHaveLength(4);
      for (const wallet of wallets) {
        expect(await ledger.getUsdcBalance(new PublicKey(wallet.wallet)), wallet.wallet).toBe(BigInt(wallet.funded) - BigInt(wallet.paid));
      }
      // Every paid row's payment is on the chain exactly once; every payment on the chain has its row.
      const report = await reconcile(db, ledger, { from: new Date(Date.now() - 3_600_000), to: new Date(Date.now() + 60_000) });
      expect(report.differences).toEqual([]);
    } finally {
      await ledger.close();
      await db.close();
    }
  }, 300_000);
});
