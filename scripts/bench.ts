// npm run bench — the figures the paid-call issue asks for, measured side by side in one process:
//   1. API key verification with 10,000 keys: one indexed SHA-256 lookup vs the seeds' design
//      (a bcrypt compare against every active key), the latter measured on a sample and extrapolated;
//   2. rate limiting under 500 concurrent requests: admitted vs limit and latency, for this
//      gateway's limiter vs a database read-check-increment counter (the seeds' first design);
//   3. gateway overhead: a paid call through POST /api/tdk/v1/call vs the same agent called
//      directly with a wallet (build → sign → call), on the local marketplace and ledger;
//   4. treasury exposure: a simulated day of worst-case free accounts (key churn, agents that fail
//      after payment, agents above the maximum price), the outflow not covered by billing next to
//      the bound the README states (BENCH_EXPOSURE_ACCOUNTS, default 20);
//   5. embedded ledger persistence: the journal write per transaction, early and with a grown chain,
//      next to what serialising the whole state costs at that size;
//   6. the production shape (cluster): 1 and 2 gateway instances; 7. usage reporting at scale;
//   8. memory over 10,000 in-process paid calls;
//   9. HTTP load (autocannon) on a production build it starts: floor, key-auth and paid-call routes,
//      embedded and on PostgreSQL, and the server's RSS over 10,000 paid calls (scripts/bench/http-load.ts);
//  10. the top-up and sweep crons over 100,000 wallets each, on RpcLedger (scripts/bench/crons.ts);
//  11. an account with 1,000,000 usage rows: dashboard and usage endpoint reads (scripts/bench/usage-scale.ts);
//  12. a paid call's database time on PostgreSQL, statement by statement (scripts/bench/sql-profile.ts).
// Set BENCH_DATABASE_URL to run the database parts on a real PostgreSQL as well, TEST_REDIS_URL for
// Upstash; BENCH_ONLY=1,3 to run some sections only.
import { setAccountTier } from "@/lib/auth/account-store";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import path from "node:path";
import { Keypair } from "@solana/web3.js";
import bcrypt from "bcryptjs";
import { z } from "zod";
import { NextRequest } from "next/server";
import { POST as callRoute } from "@/app/api/tdk/v1/call/route";
import { LocalMarketplace } from "@/lib/agents/local-marketplace";
import { demoAgents, type LocalAgentDefinition } from "@/lib/agents/demo-agents";
import { MarketplaceClient } from "@/lib/agents/marketplace-client";
import { registerAccount } from "@/lib/auth/accounts";
import { localMarketplaceAgents, setAppContext, type AppContext } from "@/lib/context";
import { PGliteDatabase } from "@/lib/db/pglite";
import { parseEnv } from "@/lib/env";
import { generateApiKey } from "@/lib/keys/api-key";
import { createApiKey, revokeApiKey, verifyApiKey } from "@/lib/keys/keys";
import { runWalletSweep } from "@/lib/ops/sweep-wallets";
import { MemoryRateLimiter } from "@/lib/ratelimit/memory";
import type { RateLimiter } from "@/lib/ratelimit/types";
import { LocalLedger } from "@/lib/solana/local-ledger";
import { ensureEmbeddedTreasury } from "@/lib/solana/treasury";
import { servicesFor } from "@/lib/services";
import { lamportsToSol, microToUsd } from "@/lib/money/units";
import { cpuSeconds } from "./bench/proc";

/**
 * The real marketplace adds no memo, so one key's identical payments collide within a slot (one
 * per 400 ms). The bench measures the gateway's own cost, so its marketplace makes each payment
 * unique; the collision itself is tested in tests/calls/marketplace-behaviour.test.ts.
 */
const BENCH_MARKETPLACE = { memo: true };

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
function stats(samples: number[]) {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    n: sorted.length,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    mean: sorted.reduce((a, b) => a + b, 0) / sorted.length,
  };
}
const ms = (value: number) => `${value.toFixed(3)} ms`;
async function timed<T>(work: () => Promise<T>): Promise<[number, T]> {
  const start = performance.now();
  const result = await work();
  return [performance.now() - start, result];
}

/** The in-process app: PGlite and the ledger in memory, or both on disk under `dataDir` as the server keeps them. */
async function setup(dataDir: string | null = null): Promise<AppContext> {
  const env = parseEnv({
    NODE_ENV: "test",
    WALLET_ENCRYPTION_KEY: randomBytes(32).toString("hex"),
    FREE_MONTHLY_QUOTA: "1000000",
    MARKETPLACE_CALLS_PER_WALLET_PER_MINUTE: "0",
  });
  const db = await PGliteDatabase.open(dataDir && path.join(dataDir, "db"));
  const ledger = await LocalLedger.open(dataDir && path.join(dataDir, "ledger"));
  await ensureEmbeddedTreasury(db, env.encryption!, ledger, env.treasuryFloat);
  const agents = localMarketplaceAgents(await LocalMarketplace.create(ledger, demoAgents(), BENCH_MARKETPLACE));
  const app: AppContext = { env, db, ledger, ring: env.encryption!, limiter: new MemoryRateLimiter(), agents, stripe: null };
  setAppContext(app);
  return app;
}

async function benchKeyVerification(app: AppContext) {
  const stages = [1_000, 10_000, Number(process.env.BENCH_KEYS_MAX ?? 100_000)];
  console.log(`\n## 1. API key verification with ${stages.map((n) => n.toLocaleString("en-US")).join(", ")} keys in the database`);
  const account = await registerAccount(app.db, `bench-${Date.now()}@example.com`, "bench-password-42");
  if (!account.ok) throw new Error("setup");
  // Keys inserted directly (wallets unfunded: not what is measured), in stages; each stage measured
  // once its keys are in, then the first stage's lookups repeated at the end to compare like with like.
  const keys: string[] = [];
  const { sealKeypair } = await import("@/lib/crypto/wallet-keys");
  const sealed = sealKeypair(app.ring, Keypair.generate());
  const pg = (app.db as unknown as { pg: import("@electric-sql/pglite").PGlite }).pg;
  const insertUpTo = async (count: number) => {
    const [insertMs] = await timed(async () => {
      await pg.query("begin");
      while (keys.length < count) {
        const key = generateApiKey("test");
        keys.push(key.apiKey);
        await pg.query(
          "insert into tdk_api_keys (account_id, name, key_hash, key_prefix, wallet_public_key, wallet_secret_encrypted) values ($1, $2, $3, $4, $5, $6)",
          [account.account.id, `k${keys.length}`, key.hash, key.prefix, Keypair.generate().publicKey.toBase58(), sealed.secretEncrypted],
        );
      }
      await pg.query("commit");
    });
    return insertMs;
  };
  const measure = async (among: string[]) => {
    const lookups: number[] = [];
    for (let i = 0; i < 2_000; i += 1) {
      const key = among[Math.floor(Math.random() * among.length)]!;
      const [elapsed, result] = await timed(() => verifyApiKey(app.db, key));
      if (!result.ok) throw new Error("lookup failed");
      lookups.push(elapsed);
    }
    return stats(lookups);
  };
  let ours = { n: 0, p50: 0, p99: 0, mean: 0 };
  for (const stage of stages) {
    const insertMs = await insertUpTo(stage);
    ours = await measure(keys);
    console.log(
      `this gateway (SHA-256 + unique index, PGlite), ${stage.toLocaleString("en-US").padStart(7)} keys: n=${ours.n} p50 ${ms(ours.p50)} p99 ${ms(ours.p99)} mean ${ms(ours.mean)} (inserted in ${(insertMs / 1000).toFixed(1)} s)`,
    );
  }
  const firstAgain = await measure(keys.slice(0, stages[0]));
  console.log(
    `  the first ${stages[0]!.toLocaleString("en-US")} keys again, among ${keys.length.toLocaleString("en-US")}: p50 ${ms(firstAgain.p50)} p99 ${ms(firstAgain.p99)} mean ${ms(firstAgain.mean)}`,
  );

  // The seeds' design stores bcrypt hashes (not findable by value) and compares the presented key
  // against every active key. Measured: the cost of one compare (cost 10, the seeds' bcrypt default),
  // on a sample; extrapolated to 10,000 keys (a miss or a revoked key scans all of them; a hit, half on average).
  const sampleHashes = await Promise.all(keys.slice(0, 5).map((key) => bcrypt.hash(key, 10)));
  const compares: number[] = [];
  for (let i = 0; i < 20; i += 1) {
    const [elapsed] = await timed(() => bcrypt.compare(keys[100]!, sampleHashes[i % sampleHashes.length]!));
    compares.push(elapsed);
  }
  const compare = stats(compares);
  const fullScanMs = compare.mean * 10_000;
  console.log(`seeds' design: one bcrypt compare (cost 10, bcryptjs) n=${compare.n} p50 ${ms(compare.p50)} mean ${ms(compare.mean)}`);
  console.log(
    `  extrapolated per verification with 10,000 keys: hit ≈ ${(fullScanMs / 2 / 1000).toFixed(1)} s (half the keys), miss ≈ ${(fullScanMs / 1000).toFixed(1)} s (all keys)`,
  );
  console.log(`  ratio (hit, mean): ${(fullScanMs / 2 / ours.mean).toFixed(0)}× slower than the indexed lookup`);
}

/** The seeds' first design: read the counter, check it, write it back: two statements, not atomic. */
type RunSql = (sql: string, params: unknown[]) => Promise<{ rows: { count: number }[] }>;
function databaseCounter(run: RunSql, table: string) {
  return {
    setup: () => run(`create table if not exists ${table} (key text primary key, count integer not null)`, []),
    async limit(key: string, limit: number): Promise<boolean> {
      const { rows } = await run(`select count from ${table} where key = $1`, [key]);
      const count = rows[0]?.count ?? 0;
      if (count >= limit) return false;
      await run(`insert into ${table} (key, count) values ($1, $2) on conflict (key) do update set count = $2`, [key, count + 1]);
      return true;
    },
  };
}

async function benchRateLimiter(app: AppContext) {
  console.log("\n## 2. Rate limiter: 500 concurrent requests against a limit of 100");
  const report = (name: string, admitted: number, latencies: number[]) => {
    const s = stats(latencies);
    console.log(`${name}: admitted ${admitted} / limit 100 · p50 ${ms(s.p50)} p99 ${ms(s.p99)}`);
  };
  const limiters: [string, RateLimiter, () => Promise<void>][] = [
    ["this gateway, in-process sliding window", new MemoryRateLimiter(), async () => {}],
  ];
  const redisUrl = process.env.TEST_REDIS_URL;
  if (redisUrl) {
    const { startUpstashBridge } = await import("../tests/helpers/upstash-bridge");
    const { UpstashRateLimiter } = await import("@/lib/ratelimit/upstash");
    const bridge = await startUpstashBridge(redisUrl);
    limiters.push([
      "this gateway, @upstash/ratelimit on Redis (REST bridge)",
      new UpstashRateLimiter({ url: bridge.url, token: bridge.token }),
      () => bridge.close(),
    ]);
  }
  for (const [name, limiter, close] of limiters) {
    const policy = { name: `bench-${randomBytes(4).toString("hex")}`, limit: 100, windowMs: 60_000 };
    const results = await Promise.all(Array.from({ length: 500 }, () => timed(() => limiter.limit(policy, "client"))));
    report(
      name,
      results.filter(([, r]) => r.success).length,
      results.map(([t]) => t),
    );
    await close();
  }

  const pglite = (app.db as unknown as { pg: { query: RunSql } }).pg;
  const databases: [string, RunSql, () => Promise<void>][] = [
    ["database read-check-increment (PGlite)", (sql, params) => pglite.query(sql, params), async () => {}],
  ];
  if (process.env.BENCH_DATABASE_URL) {
    const pg = (await import("pg")).default;
    const pool = new pg.Pool({ connectionString: process.env.BENCH_DATABASE_URL, max: 20 });
    databases.push(["database read-check-increment (PostgreSQL, pool of 20)", (sql, params) => pool.query(sql, params), () => pool.end()]);
  }
  for (const [name, run, close] of databases) {
    const counter = databaseCounter(run, `bench_counter_${randomBytes(3).toString("hex")}`);
    await counter.setup();
    const results = await Promise.all(Array.from({ length: 500 }, () => timed(() => counter.limit("client", 100))));
    report(
      name,
      results.filter(([, ok]) => ok).length,
      results.map(([t]) => t),
    );
    await close();
  }
}

/** A pro account with one key whose wallet is funded as asked: what the in-process paid-call sections call with. */
async function proKey(app: AppContext, label: string, funding: { initialUsdcMicro: bigint; initialSolLamports?: bigint }): Promise<string> {
  const account = await registerAccount(app.db, `${label}-${Date.now()}@example.com`, "bench-password-42");
  if (!account.ok) throw new Error("setup");
  await setAccountTier(app.db, account.account.id, "pro");
  const deps = await servicesFor(app).keys.deps();
  const created = await createApiKey({ ...deps, config: { ...deps.config, ...funding } }, account.account.id, label);
  if (!created.ok) throw new Error(created.code);
  // The route answers from the current app context: other sections set their own.
  setAppContext(app);
  return created.apiKey;
}

/** `POST /api/tdk/v1/call` through the route handler, in process, as Next.js would call it. */
function postCall(apiKey: string, body: unknown): Promise<Response> {
  const request = new NextRequest("http://localhost/api/tdk/v1/call", {
    method: "POST",
    headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json", "x-forwarded-for": "127.0.0.1" },
    body: JSON.stringify(body),
  });
  return callRoute(request, { params: Promise.resolve({}) });
}

/** A paid call that must succeed (the benches measure success paths). */
async function paidCallOk(apiKey: string, body: unknown): Promise<void> {
  const response = await postCall(apiKey, body);
  if (response.status !== 200) throw new Error(`gateway answered ${response.status}: ${await response.text()}`);
  await response.json();
}

async function benchGatewayOverhead(app: AppContext) {
  console.log("\n## 3. Gateway overhead: a paid call (warmmemory store), local marketplace and ledger");
  const apiKey = await proKey(app, "overhead", { initialUsdcMicro: 100_000_000n });
  const throughGateway = (i: number) =>
    paidCallOk(apiKey, { agent_id: "warmmemory", input: { action: "store", key: `k${i}`, value: "v" } });

  // The "before" path: a developer with a funded wallet talking to the marketplace directly.
  const wallet = Keypair.generate();
  await (app.ledger as LocalLedger).fund(wallet.publicKey, 100_000_000n, 100_000_000n);
  const direct = new MarketplaceClient(app.agents.local!.apiUrl, app.agents.local!.fetch);
  const lookup = await direct.findAgent("warmmemory");
  if (!lookup.ok) throw new Error("warmmemory is not in the local catalog");
  const agentId = lookup.agent.id;
  const directCall = async (i: number) => {
    const { Transaction } = await import("@solana/web3.js");
    const build = await direct.buildTransaction(agentId, wallet.publicKey.toBase58(), { action: "store", key: `k${i}`, value: "v" });
    if (!build.ok) throw new Error(build.error);
    const tx = Transaction.from(Buffer.from(build.transaction, "base64"));
    tx.sign(wallet);
    const result = await direct.callAgent(build.payment_intent_id, tx.serialize().toString("base64"), 30_000);
    if (!result.ok) throw new Error(result.error);
  };

  const N = 300;
  for (const warm of [throughGateway, directCall]) for (let i = 0; i < 20; i += 1) await warm(i);
  const sequential = async (fn: (i: number) => Promise<void>) => {
    const samples: number[] = [];
    for (let i = 0; i < N; i += 1) samples.push((await timed(() => fn(i)))[0]);
    return stats(samples);
  };
  const gateway = await sequential(throughGateway);
  const before = await sequential(directCall);
  console.log(`direct with a wallet (before): n=${before.n} p50 ${ms(before.p50)} p99 ${ms(before.p99)}`);
  console.log(`through the gateway:            n=${gateway.n} p50 ${ms(gateway.p50)} p99 ${ms(gateway.p99)}`);
  // Signed: on a noisy host the direct calls' p99 can be the higher one.
  const signed = (difference: number) => `${difference < 0 ? "−" : "+"}${ms(Math.abs(difference))}`;
  console.log(`gateway overhead: p50 ${signed(gateway.p50 - before.p50)}, p99 ${signed(gateway.p99 - before.p99)}`);

  for (const concurrency of [1, 8]) {
    let next = 0;
    const total = 400;
    const [elapsed] = await timed(() =>
      Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (next < total) await throughGateway(10_000 + next++);
        }),
      ),
    );
    console.log(
      `throughput through the gateway, ${concurrency} in flight: ${((total / elapsed) * 1000).toFixed(0)} calls/s (${total} calls)`,
    );
  }
}

/**
 * A simulated day of worst-case free accounts, each run by someone who also owns agents on the
 * marketplace: key churn (create and revoke as many keys as allowed), calls to their own agent that
 * takes the payment and fails, to an agent priced above the gateway's maximum, and to a $1 agent
 * until refused; then the sweep cron. Free usage is never billed, so everything that left the
 * treasury and did not come back is outflow not covered by billing.
 */
async function benchTreasuryExposure() {
  const accounts = Number(process.env.BENCH_EXPOSURE_ACCOUNTS ?? 20);
  console.log(`\n## 4. Treasury exposure: a simulated day of ${accounts} worst-case free accounts (default limits)`);
  const failing = (i: number): LocalAgentDefinition => ({
    id: `0e${i.toString(16).padStart(6, "0")}-0000-4000-8000-000000000000`,
    name: `takes-and-fails-${i}`,
    description: "Takes the payment, then fails.",
    priceMicro: 1_000_000n,
    feeBps: 0,
    inputSchema: z.object({ text: z.string() }),
    outputSchema: z.unknown(),
    async handle() {
      throw new Error("failed on purpose");
    },
  });
  const fixed = (name: string, priceMicro: bigint): LocalAgentDefinition => ({
    ...failing(0),
    id: randomUUID(),
    name,
    priceMicro,
    handle: async () => ({ ok: true }),
  });
  const agents = [
    ...demoAgents(),
    fixed("dollar", 1_000_000n),
    fixed("luxury", 5_000_000n),
    ...Array.from({ length: accounts }, (_, i) => failing(i + 1)),
  ];
  const env = parseEnv({
    NODE_ENV: "test",
    WALLET_ENCRYPTION_KEY: randomBytes(32).toString("hex"),
    MARKETPLACE_CALLS_PER_WALLET_PER_MINUTE: "0",
  });
  const db = await PGliteDatabase.open(null);
  const ledger = await LocalLedger.open(null);
  const treasury = await ensureEmbeddedTreasury(db, env.encryption!, ledger, env.treasuryFloat);
  const app: AppContext = {
    env,
    db,
    ledger,
    ring: env.encryption!,
    limiter: new MemoryRateLimiter(),
    agents: localMarketplaceAgents(await LocalMarketplace.create(ledger, agents, BENCH_MARKETPLACE)),
    stripe: null,
  };
  setAppContext(app);
  const before = { usdc: await ledger.getUsdcBalance(treasury.publicKey), sol: await ledger.getSolBalance(treasury.publicKey) };

  const callAs = async (apiKey: string, agent: string) => {
    const response = await postCall(apiKey, { agent_id: agent, input: { text: "drain" } });
    return response.status === 200 ? "ok" : ((await response.json()) as { error: { code: string } }).error.code;
  };
  const outcomes = new Map<string, number>();
  const count = (outcome: string) => outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
  const perAccount: { id: string }[] = [];
  const [elapsed] = await timed(async () => {
    for (let i = 0; i < accounts; i += 1) {
      const account = await registerAccount(db, `exposure-${i}-${Date.now()}@example.com`, "bench-password-42");
      if (!account.ok) throw new Error("setup");
      perAccount.push({ id: account.account.id });
      const deps = await servicesFor(app).keys.deps();
      // The first key is kept to call with (it is the one funded first); every other one is churned.
      let apiKey: string | null = null;
      for (let k = 0; k < 25; k += 1) {
        const created = await createApiKey(deps, account.account.id, `churn ${k}`);
        count(created.ok ? "key created" : `key refused: ${created.code}`);
        if (!created.ok) break;
        if (apiKey) await revokeApiKey(db, account.account.id, created.key.id);
        else apiKey = created.apiKey;
      }
      for (const agent of [`takes-and-fails-${i + 1}`, "luxury", "dollar", "sentiment"]) {
        for (let c = 0; c < 20; c += 1) {
          const outcome = await callAs(apiKey!, agent);
          count(`call ${agent.startsWith("takes") ? "own failing agent" : agent}: ${outcome}`);
          if (outcome !== "ok" && outcome !== "agent_failed") break;
        }
      }
    }
    await runWalletSweep({ ...(await servicesFor(app).funding.deps())!, ring: app.ring });
  });

  const after = { usdc: await ledger.getUsdcBalance(treasury.publicKey), sol: await ledger.getSolBalance(treasury.publicKey) };
  const pg = (db as unknown as { pg: import("@electric-sql/pglite").PGlite }).pg;
  const rows = (
    await pg.query<{ account_id: string; usdc: string; sol: string }>(
      `select account_id, sum(case when reason = 'sweep' then -usdc_micro else usdc_micro end)::text as usdc,
              sum(case when reason = 'sweep' then overhead_lamports - sol_lamports else sol_lamports + overhead_lamports end)::text as sol
         from tdk_wallet_fundings where status = 'confirmed' group by account_id`,
    )
  ).rows;
  const worst = rows.reduce(
    (max, row) => ({
      usdc: BigInt(row.usdc) > max.usdc ? BigInt(row.usdc) : max.usdc,
      sol: BigInt(row.sol) > max.sol ? BigInt(row.sol) : max.sol,
    }),
    { usdc: 0n, sol: 0n },
  );
  const paidToAgents = (
    await pg.query<{ paid: string }>(
      "select coalesce(sum(agent_cost_micro), 0)::text as paid from tdk_usage where status in ('succeeded', 'agent_failed')",
    )
  ).rows[0]!.paid;
  const billed = (
    await pg.query<{ billed: string }>(
      "select coalesce(sum(developer_cost_micro), 0)::text as billed from tdk_usage where billing_status in ('unreported', 'claimed', 'reported') and tier <> 'free'",
    )
  ).rows[0]!.billed;
  const caps = env.limits.funding.tiers.free.accountDaily;
  for (const [outcome, n] of [...outcomes.entries()].sort()) console.log(`  ${outcome}: ${n}`);
  console.log(`simulated in ${(elapsed / 1000).toFixed(1)} s`);
  console.log(`treasury outflow not covered by billing (billed: ${microToUsd(BigInt(billed))} USD), net of sweeps:`);
  console.log(`  all ${accounts} accounts: ${microToUsd(before.usdc - after.usdc)} USDC + ${lamportsToSol(before.sol - after.sol)} SOL`);
  console.log(`  worst account:   ${microToUsd(worst.usdc)} USDC + ${lamportsToSol(worst.sol)} SOL`);
  console.log(`  README bound per free account per day: ${microToUsd(caps.usdcMicro)} USDC + ${lamportsToSol(caps.solLamports)} SOL`);
  console.log(
    `  of the USDC, paid to agents (gone for good): ${microToUsd(BigInt(paidToAgents))}; still in the live keys' wallets: ${microToUsd(before.usdc - after.usdc - BigInt(paidToAgents))}`,
  );
}

/**
 * What persisting the embedded chain costs per transaction: the journal line it appends (and a
 * snapshot every 500), measured early and again once the chain holds thousands of transactions,
 * next to what rewriting the whole state per transaction costs at that size (the design it replaced).
 */
async function benchLedgerPersistence() {
  console.log("\n## 5. Embedded ledger persistence: cost per transaction as the chain grows");
  const { mkdtemp, rm, stat } = await import("node:fs/promises");
  const dir = await mkdtemp(path.join(os.tmpdir(), "tdk-bench-ledger-"));
  const ledger = await LocalLedger.open(dir);
  const owner = Keypair.generate().publicKey;
  const round = async (n: number) => {
    const before = (await stat(path.join(dir, "journal.log"))).size;
    const samples: number[] = [];
    for (let i = 0; i < n; i += 1) samples.push((await timed(() => ledger.fund(owner, 1n, 0n)))[0]);
    return { ...stats(samples), bytes: ((await stat(path.join(dir, "journal.log"))).size - before) / n };
  };
  const early = await round(300);
  for (let i = 0; i < 4_000; i += 1) await ledger.fund(owner, 1n, 0n);
  const late = await round(300);
  const state = (ledger as unknown as { svm: { toBytes(): Uint8Array } }).svm;
  const rewrite = stats(
    Array.from({ length: 20 }, () => {
      const start = performance.now();
      state.toBytes();
      return performance.now() - start;
    }),
  );
  console.log(
    `transaction with its journal write, first 300:      p50 ${ms(early.p50)} p99 ${ms(early.p99)} · ${early.bytes.toFixed(0)} bytes each`,
  );
  console.log(
    `transaction with its journal write, after 4,300:    p50 ${ms(late.p50)} p99 ${ms(late.p99)} · ${late.bytes.toFixed(0)} bytes each`,
  );
  console.log(
    `the whole state at that size (what a full rewrite per transaction serialises): ${(state.toBytes().length / 1e6).toFixed(2)} MB, toBytes p50 ${ms(rewrite.p50)} (before any disk write)`,
  );
  await ledger.close();
  await rm(dir, { recursive: true, force: true });
}

/**
 * 6. The production shape: paid calls per second through the cluster (scripts/cluster.ts: gateways
 * on PostgreSQL, Upstash on Redis, the local Solana cluster and the marketplace as processes), with
 * one gateway and with two, side by side in one run, and the CPU each part used.
 */
async function benchCluster() {
  console.log("\n## 6. The production shape: paid calls per second with 1 and 2 gateway instances");
  const base = process.env.BENCH_DATABASE_URL;
  const redisUrl = process.env.TEST_REDIS_URL;
  if (!base || !redisUrl) {
    console.log("skipped: needs BENCH_DATABASE_URL (PostgreSQL) and TEST_REDIS_URL (Redis)");
    return;
  }
  const { startCluster } = await import("./cluster");
  const { buildForBench } = await import("./bench/http-load");
  const { createTempDatabase } = await import("@/tests/helpers/postgres");
  const { freePort } = await import("@/tests/helpers/server");
  const pg = (await import("pg")).default;
  const { mkdtemp, rm } = await import("node:fs/promises");
  const { tmpdir } = await import("node:os");
  const database = await createTempDatabase(base);
  const dataDir = await mkdtemp(path.join(tmpdir(), "tdk-bench-cluster-"));
  buildForBench(".next-cluster");
  const cluster = await startCluster({
    ports: [await freePort(), await freePort()],
    databaseUrl: database.url,
    redisUrl,
    dataDir,
    env: {
      ...process.env,
      TDK_NEXT_DIST_DIR: ".next-cluster",
      MARKETPLACE_CALLS_PER_WALLET_PER_MINUTE: "0",
      CRON_SECRET: randomBytes(16).toString("hex"),
    },
    log: () => {},
  });
  const sql = new pg.Pool({ connectionString: database.url, max: 2 });
  try {
    const WORKERS = Number(process.env.BENCH_CLUSTER_WORKERS ?? 16);
    const SECONDS = Number(process.env.BENCH_CLUSTER_SECONDS ?? 10);
    // Each caller from its own address: per-IP limits (sign-up, log-in) live in Redis and outlast a run.
    const post = async (url: string, route: string, body: unknown, bearer: string | undefined, caller: number) => {
      const response = await fetch(`${url}${route}`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "x-forwarded-for": `10.${caller >> 8}.${caller & 255}.${(Date.now() >> 20) & 255}`,
          ...(bearer ? { authorization: `Bearer ${bearer}` } : {}),
        },
        body: JSON.stringify(body),
      });
      return {
        status: response.status,
        json: (await response.json()) as { session_token?: string; api_key?: string; error?: { code?: string } },
      };
    };
    // One paid account per worker, each with its own key (its own wallet).
    const gatewayUrl = cluster.gateways[0]!.url;
    const keys: string[] = [];
    for (let i = 0; i < WORKERS; i += 1) {
      const email = `bench-${i}-${randomBytes(3).toString("hex")}@example.com`;
      await post(gatewayUrl, "/api/tdk/auth/register", { email, password: "correct-horse-battery-42" }, undefined, i);
      await sql.query("update tdk_accounts set tier = 'paid' where email = $1", [email]);
      const session = (await post(gatewayUrl, "/api/tdk/auth/login", { email, password: "correct-horse-battery-42" }, undefined, i)).json
        .session_token;
      const created = await post(gatewayUrl, "/api/tdk/keys/generate", { name: "bench" }, session, i);
      if (created.status !== 201) throw new Error(`bench key not created: ${created.status} ${JSON.stringify(created.json)}`);
      keys.push(created.json.api_key!);
    }
    const bodies = [
      { agent_id: "warmmemory", input: { action: "store", key: "k", value: "v" } },
      { agent_id: "textstats", input: { text: "the production shape" } },
      { agent_id: "sentiment", input: { text: "good and fast" } },
      { agent_id: "echo", input: { hello: "bench" } },
    ];
    // The machine's PostgreSQL and Redis processes too (all of them: this bench is the only load).
    const { execFileSync } = await import("node:child_process");
    const pids = (name: string) => {
      try {
        return execFileSync("pgrep", ["-x", name], { encoding: "utf8" }).trim().split("\n").filter(Boolean).map(Number);
      } catch {
        return [];
      }
    };
    const parts = [
      ...cluster.gateways.map((gateway, i) => ({ name: `gateway ${i + 1}`, pids: [gateway.pid] })),
      { name: "solana rpc", pids: [cluster.rpc.pid] },
      { name: "marketplace", pids: [cluster.marketplace.pid] },
      { name: "postgres", pids: pids("postgres") },
      { name: "redis", pids: pids("redis-server") },
      { name: "bench + upstash bridge + stripe stand-in", pids: [process.pid] },
    ];
    const partCpu = async (part: { pids: number[] }) =>
      (await Promise.all(part.pids.map((pid) => cpuSeconds(pid).catch(() => 0)))).reduce((sum, value) => sum + value, 0);
    const round = async (instances: number) => {
      const urls = cluster.gateways.slice(0, instances).map((gateway) => gateway.url);
      const cpuBefore = await Promise.all(parts.map(partCpu));
      const latencies: number[] = [];
      let failed = 0;
      const refusals = new Map<string, number>();
      const deadline = Date.now() + SECONDS * 1000;
      const started = performance.now();
      await Promise.all(
        keys.map(async (key, worker) => {
          for (let i = 0; Date.now() < deadline; i += 1) {
            const t0 = performance.now();
            const answer = await post(urls[(worker + i) % urls.length]!, "/api/tdk/v1/call", bodies[i % bodies.length], key, worker);
            if (answer.status === 200) latencies.push(performance.now() - t0);
            else {
              failed += 1;
              const code = `${answer.status} ${answer.json?.error?.code ?? "?"}`;
              refusals.set(code, (refusals.get(code) ?? 0) + 1);
            }
          }
        }),
      );
      const elapsed = (performance.now() - started) / 1000;
      const cpuAfter = await Promise.all(parts.map(partCpu));
      latencies.sort((a, b) => a - b);
      const cpu = parts.map((part, i) => `${part.name} ${((cpuAfter[i]! - cpuBefore[i]!) / elapsed).toFixed(2)}`).join(" · ");
      console.log(
        `${instances} gateway${instances > 1 ? "s" : " "}: ${(latencies.length / elapsed).toFixed(1)} paid calls/s (${latencies.length} ok${failed ? `, ${failed} refused: ${[...refusals].map(([code, n]) => `${n}× ${code}`).join(", ")}` : ""}), p50 ${latencies.length ? ms(percentile(latencies, 50)) : "-"} p99 ${latencies.length ? ms(percentile(latencies, 99)) : "-"} · CPU cores used: ${cpu}`,
      );
    };
    console.log(`${WORKERS} concurrent callers (one key each), ${SECONDS} s a round, rounds interleaved:`);
    for (const instances of [1, 2, 1, 2]) await round(instances);
  } finally {
    await sql.end();
    await cluster.stop();
    await database.drop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

/**
 * 7. Usage reporting at scale: 100,000 settled, unreported usage rows of 1,000 paying customers,
 * reported by the real job (claim → one meter event per customer and batch, one request per
 * customer at a time → complete) against the Stripe stand-in, on PGlite.
 */
async function benchUsageReporting() {
  const customers = Number(process.env.BENCH_REPORT_CUSTOMERS ?? 1_000);
  const rowsPerCustomer = Number(process.env.BENCH_REPORT_ROWS_PER_CUSTOMER ?? 100);
  console.log(
    `\n## 7. Usage reporting: ${(customers * rowsPerCustomer).toLocaleString("en-US")} unreported rows across ${customers.toLocaleString("en-US")} customers, against the Stripe stand-in`,
  );
  const { startStripeStandIn } = await import("@/tests/helpers/stripe-standin");
  const { reportUsage } = await import("@/lib/billing/report-usage");
  const env = parseEnv({ NODE_ENV: "test", WALLET_ENCRYPTION_KEY: randomBytes(32).toString("hex") });
  const db = await PGliteDatabase.open(null);
  const pg = (db as unknown as { pg: import("@electric-sql/pglite").PGlite }).pg;
  const { sealKeypair } = await import("@/lib/crypto/wallet-keys");
  const sealed = sealKeypair(env.encryption!, Keypair.generate()).secretEncrypted;
  const stripe = await startStripeStandIn();
  try {
    const [seedMs] = await timed(async () => {
      // Accounts, one key each and their settled calls, all within the last hour (one batch per customer).
      await pg.query(
        `insert into tdk_accounts (email, password_hash, tier, stripe_customer_id)
         select 'report-' || g || '@example.com', '$2a$10$benchbenchbenchbenchbu', 'paid', 'cus_bench_' || g from generate_series(1, $1) g`,
        [customers],
      );
      await pg.query(
        `insert into tdk_api_keys (account_id, name, key_hash, key_prefix, wallet_public_key, wallet_secret_encrypted)
         select a.id, 'bench', encode(sha256(a.id::text::bytea), 'hex'), 'tk_test_bench', 'W' || replace(a.id::text, '-', ''), $1 from tdk_accounts a where a.email like 'report-%'`,
        [sealed],
      );
      await pg.query(
        `insert into tdk_usage (request_id, api_key_id, account_id, agent_id, agent_name, status, agent_cost_micro, markup_bps, developer_cost_micro, tier, tx_signature, billing_status, created_at, settled_at)
         select 'req_bench_' || k.id || '_' || g, k.id, k.account_id, 'warmmemory', 'warmmemory', 'succeeded', 1000, 5000, 1500, 'paid', 'sig_' || k.id || '_' || g, 'unreported',
                date_trunc('hour', now()) + (g % 50) * interval '1 second', date_trunc('hour', now()) + (g % 50) * interval '1 second'
           from tdk_api_keys k, generate_series(1, $1) g`,
        [rowsPerCustomer],
      );
    });
    console.log(`seeded in ${(seedMs / 1000).toFixed(1)} s`);
    const client = stripe.client();
    // 1 ms of "Stripe" per meter event: enough for the stand-in to count requests in flight per customer.
    stripe.setMeterEventDelay(1);
    const started = performance.now();
    let claimedAt = 0;
    const [reportMs, summary] = await timed(() =>
      reportUsage({
        db,
        stripe: client,
        meterEventName: "tdk_usage_micro",
        log: () => {},
        afterStep: (step) => void (step === "claimed" && (claimedAt = performance.now())),
      }),
    );
    console.log(
      `claim (one SQL call: batches per customer and hour): ${((claimedAt - started) / 1000).toFixed(1)} s; sends and completions: ${((performance.now() - claimedAt) / 1000).toFixed(1)} s`,
    );
    const events = stripe.meterEvents.length;
    const billed = [...stripe.meterTotals.values()].reduce((sum, value) => sum + value, 0n);
    console.log(
      `reported in ${(reportMs / 1000).toFixed(1)} s (target ≤ 60 s): ${summary.reported} batches, ${events} meter events (one per customer), ` +
        `${billed.toLocaleString("en-US")} micro-USD billed of ${(customers * rowsPerCustomer * 1500).toLocaleString("en-US")}; most meter requests in flight for one customer: ${stripe.maxInFlight.perCustomer}, overall: ${stripe.maxInFlight.overall}`,
    );
  } finally {
    await stripe.close();
    await db.close();
  }
}

/**
 * A full garbage collection, for the live heap: V8 lets garbage pile up to a limit it sets from the
 * live heap (three to four times it under this load, by --trace-gc on the server), so RSS shows a
 * leak late and blurred; the heap left after a full collection shows it per call. Exposed at run
 * time, as `npm run bench` runs without --expose-gc.
 */
function collectGarbage(): () => void {
  setFlagsFromString("--expose-gc");
  return runInNewContext("gc") as () => void;
}

/**
 * 8. Memory over 10,000 paid calls through the call route, in process on the embedded defaults
 * (PGlite and the ledger in this same process, on disk as `npm run dev` keeps them): RSS, heap and
 * the live heap after a full GC printed every 2,500 calls. Whatever grows is the chain's and the
 * database's own data, or a leak.
 */
async function benchMemory() {
  const CALLS = Number(process.env.BENCH_MEMORY_CALLS ?? 10_000);
  console.log(
    `\n## 8. Memory over ${CALLS.toLocaleString("en-US")} paid calls (call route in process, PGlite and the ledger in the same process, on disk as the server keeps them)`,
  );
  const dataDir = await mkdtemp(path.join(os.tmpdir(), "tdk-bench-memory-"));
  const app = await setup(dataDir);
  const gc = collectGarbage();
  // Enough SOL for 10,000 fees of 5,000 lamports (the default float, 0.01 SOL, pays ~1,800 of them).
  const apiKey = await proKey(app, "memory", { initialUsdcMicro: 100_000_000n, initialSolLamports: 100_000_000n });
  const call = (i: number) => paidCallOk(apiKey, { agent_id: "warmmemory", input: { action: "store", key: `k${i % 100}`, value: "v" } });
  const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  const print = (done: number) => {
    const usage = process.memoryUsage();
    gc();
    const live = process.memoryUsage().heapUsed;
    console.log(
      `after ${done.toLocaleString("en-US").padStart(6)} calls: RSS ${mb(usage.rss)} · heap used ${mb(usage.heapUsed)}, ${mb(live)} live after a full GC · external ${mb(usage.external)} · array buffers ${mb(usage.arrayBuffers)}`,
    );
    return { usage, live };
  };
  print(0);
  const started = performance.now();
  // Growth is read from the first checkpoint on: the setup's garbage is collected during the first calls.
  let first: { calls: number; usage: NodeJS.MemoryUsage; live: number } | null = null;
  let last: { usage: NodeJS.MemoryUsage; live: number } | null = null;
  for (let i = 1; i <= CALLS; i += 1) {
    await call(i);
    if (i % 2_500 === 0 || i === CALLS) {
      last = print(i);
      first ??= { calls: i, ...last };
    }
  }
  // What stays live a call, by a heap probe (issue 11's note): the demo marketplace's receipts (up to
  // its maxReceipts, for an hour) and the embedded chain's signature index (its whole history).
  const calls = Math.max(CALLS - first!.calls, 1);
  const perCall = (bytes: number) => `${(bytes / calls / 1024).toFixed(1)} KiB a call`;
  console.log(
    `${CALLS.toLocaleString("en-US")} calls in ${((performance.now() - started) / 1000).toFixed(1)} s; from ${first!.calls.toLocaleString("en-US")} to ${CALLS.toLocaleString("en-US")} calls: ` +
      `RSS +${mb(last!.usage.rss - first!.usage.rss)} (${perCall(last!.usage.rss - first!.usage.rss)}), ` +
      `live heap +${mb(last!.live - first!.live)} (${((last!.live - first!.live) / calls).toFixed(0)} bytes a call)`,
  );
  await (app.ledger as LocalLedger).close();
  await app.db.close();
  await rm(dataDir, { recursive: true, force: true });
}

async function main() {
  console.log(
    `# TDK gateway benchmarks — ${new Date().toISOString()} — ${os.cpus().length} cores (${os.cpus()[0]?.model}), Node ${process.version}`,
  );
  // The in-process sections run the gateway's own code, which logs a line per request: to a file,
  // not among the figures (the logger opens its destination at its first line, after this).
  process.env.TDK_LOG_FILE ??= path.join(os.tmpdir(), "tdk-bench-{pid}.log");
  console.log(`(the gateway's log lines: ${process.env.TDK_LOG_FILE})`);
  // BENCH_ONLY=4 (or 1,3...) runs only those sections.
  const only = process.env.BENCH_ONLY?.split(",").map((part) => Number(part.trim()));
  const wanted = (section: number) => !only || only.includes(section);
  const app = await setup();
  if (wanted(1)) await benchKeyVerification(app);
  if (wanted(2)) await benchRateLimiter(app);
  if (wanted(3)) await benchGatewayOverhead(app);
  if (wanted(4)) await benchTreasuryExposure();
  if (wanted(5)) await benchLedgerPersistence();
  if (wanted(6)) await benchCluster();
  if (wanted(7)) await benchUsageReporting();
  if (wanted(8)) {
    await benchMemory();
    setAppContext(app); // section 8 ran on an app of its own
  }
  if (wanted(9)) await (await import("./bench/http-load")).benchHttpLoad();
  if (wanted(10)) await (await import("./bench/crons")).benchCrons();
  if (wanted(11)) await (await import("./bench/usage-scale")).benchUsageScale();
  if (wanted(12)) await (await import("./bench/sql-profile")).benchSqlProfile();
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
