import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pg from "pg";
import { PublicKey } from "@solana/web3.js";
import Stripe from "stripe";
import { GATEWAY_NODE_FLAGS } from "@/scripts/gateway-flags";
import { LocalnetLedger } from "@/scripts/localnet";
import { createTempDatabase, testDatabaseUrl } from "../helpers/postgres";
import { freePort } from "../helpers/server";
import { testRedisUrl } from "../helpers/upstash-bridge";

/**
 * The production shape, end to end: `npm run cluster` (scripts/cluster.ts) as its own process —
 * two gateway instances (`next start`) on one PostgreSQL, one Redis (through the Upstash REST
 * bridge), one local Solana cluster and one marketplace process — driven over HTTP only.
 * It needs the machine's PostgreSQL and Redis (TEST_DATABASE_URL, TEST_REDIS_URL; CI sets both).
 */

const services = { database: testDatabaseUrl(), redis: testRedisUrl() };
const root = path.resolve(__dirname, "..", "..");
const CRON_SECRET = `cron-${randomBytes(12).toString("hex")}`;
const STRIPE_KEY = `sk_test_${randomBytes(12).toString("hex")}`;
const PASSWORD = "correct-horse-battery-42";

interface Running {
  process: ChildProcess;
  gateways: { url: string; pid: number }[];
  rpc: { url: string; usdcMint: string };
  stripe: string;
  output: () => string;
}

let cluster: Running;
let db: { url: string; drop: () => Promise<void> };
let dataDir: string;
let sql: pg.Pool;

async function startClusterProcess(): Promise<Running> {
  const ports = [await freePort(), await freePort()];
  const child = spawn(process.execPath, ["--import", "tsx", path.join(root, "scripts", "cluster.ts")], {
    cwd: root,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      CLUSTER_PORTS: ports.join(","),
      DATABASE_URL: db.url,
      CLUSTER_REDIS_URL: services.redis!,
      CLUSTER_DATA_DIR: dataDir,
      CLUSTER_STRIPE_SECRET_KEY: STRIPE_KEY,
      CRON_SECRET,
      // Its own build, so it never races the browser test's.
      TDK_NEXT_DIST_DIR: ".next-cluster",
      // Many paid calls per key below: the marketplace's per-wallet limit has its own tests.
      MARKETPLACE_CALLS_PER_WALLET_PER_MINUTE: "0",
      // Pending calls are recovered after 1 s instead of 2 minutes.
      RECOVER_PENDING_AFTER_SECONDS: "1",
    },
  });
  let output = "";
  child.stdout!.on("data", (chunk) => (output += chunk));
  child.stderr!.on("data", (chunk) => (output += chunk));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`cluster not ready in 10 minutes:\n${output}`)), 600_000);
    const check = () => {
      if (output.includes("cluster ready")) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on("data", check);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`cluster exited (${code}):\n${output}`));
    });
  });
  const gateways = [...output.matchAll(/ready: gateway (\S+) pid=(\d+)/g)].map((match) => ({ url: match[1]!, pid: Number(match[2]) }));
  const rpc = /ready: rpc (\S+) usdc_mint=(\S+)/.exec(output)!;
  const stripe = /ready: stripe (\S+)/.exec(output)!;
  return { process: child, gateways, rpc: { url: rpc[1]!, usdcMint: rpc[2]! }, stripe: stripe[1]!, output: () => output };
}

const [A, B] = [0, 1];
// This run's client address: per-IP limits (sign-up: 20 an hour) live in Redis and outlast a run.
const CLIENT_IP = `10.${randomBytes(1)[0]}.${randomBytes(1)[0]}.${randomBytes(1)[0]}`;
async function api(
  instance: number,
  method: string,
  route: string,
  options: { body?: unknown; bearer?: string; headers?: Record<string, string> } = {},
) {
  const response = await fetch(`${cluster.gateways[instance]!.url}${route}`, {
    method,
    headers: {
      "x-forwarded-for": CLIENT_IP,
      ...(options.body === undefined ? {} : { "content-type": "application/json" }),
      ...(options.bearer ? { authorization: `Bearer ${options.bearer}` } : {}),
      ...options.headers,
    },
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const text = await response.text();
  return { status: response.status, json: text ? JSON.parse(text) : null, headers: response.headers };
}

/**
 * An account signed up on one instance, logged in on the other, and keys created there. Billing is
 * on (the Stripe stand-in), so a free account's keys get no funding before a card is verified: the
 * paying tests use a paid account (its subscription is not what they test).
 */
async function developer(label: string, keys = 1, tier: "free" | "paid" = "paid") {
  const email = `${label}-${randomBytes(4).toString("hex")}@example.com`;
  expect((await api(A, "POST", "/api/tdk/auth/register", { body: { email, password: PASSWORD } })).status).toBe(201);
  if (tier === "paid") await sql.query("update tdk_accounts set tier = 'paid' where email = $1", [email]);
  const session = (await api(B, "POST", "/api/tdk/auth/login", { body: { email, password: PASSWORD } })).json.session_token as string;
  const created: { apiKey: string; keyId: string; wallet: string }[] = [];
  for (let i = 0; i < keys; i += 1) {
    const res = await api(B, "POST", "/api/tdk/keys/generate", { bearer: session, body: { name: `${label}-${i}` } });
    expect(res.status).toBe(201);
    created.push({ apiKey: res.json.api_key, keyId: res.json.key.id, wallet: res.json.key.wallet.public_key });
  }
  return { email, session, keys: created };
}

const agentCalls = [
  { agent_id: "warmmemory", input: { action: "store", key: "k", value: "v" } },
  { agent_id: "textstats", input: { text: "the production shape" } },
  { agent_id: "sentiment", input: { text: "good and fast" } },
  { agent_id: "echo", input: { hello: "cluster" } },
];

describe.skipIf(!services.database || !services.redis)("the production shape on one machine (npm run cluster)", () => {
  beforeAll(async () => {
    db = await createTempDatabase(services.database!);
    dataDir = await mkdtemp(path.join(tmpdir(), "tdk-cluster-"));
    cluster = await startClusterProcess();
    sql = new pg.Pool({ connectionString: db.url, max: 2 });
  }, 660_000);

  afterAll(async () => {
    await sql?.end();
    if (cluster?.process.exitCode === null) {
      const exited = new Promise((resolve) => cluster.process.once("exit", resolve));
      cluster.process.kill("SIGTERM");
      await exited;
    }
    await db?.drop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  }, 120_000);

  it("starts every part and two gateways on one database, one Redis and one chain", () => {
    for (const part of ["database", "rpc", "marketplace", "upstash", "stripe", "treasury"])
      expect(cluster.output()).toMatch(new RegExp(`ready: ${part} `));
    expect(cluster.gateways).toHaveLength(2);
    // Each gateway is `next start` with the gateway's Node flags, as `npm start` runs it (what it
    // was spawned with: once Next.js sets the process title, /proc's command line shows only that).
    const flags = [...cluster.output().matchAll(/ready: gateway \S+ pid=\d+ node_flags=(\S*)/g)].map((match) => match[1]);
    expect(flags).toEqual([GATEWAY_NODE_FLAGS.join(","), GATEWAY_NODE_FLAGS.join(",")]);
  });

  it("sign-up on one instance, a key on the other, concurrent paid calls through both: each paid once", async () => {
    const dev = await developer("both", 2);
    const ledger = new LocalnetLedger(cluster.rpc.url, cluster.rpc.usdcMint);
    const before = await Promise.all(dev.keys.map((key) => ledger.getUsdcBalance(new PublicKey(key.wallet))));
    const calls = dev.keys.flatMap((key, k) =>
      agentCalls.map((body, i) => api((k + i) % 2, "POST", "/api/tdk/v1/call", { bearer: key.apiKey, body })),
    );
    const answers = await Promise.all(calls);
    expect(answers.map((answer) => answer.status)).toEqual(Array(8).fill(200));
    const prices = agentCalls.map((_, i) => BigInt(answers[i]!.json.usage.agent_cost_micro));
    const total = prices.reduce((sum, price) => sum + price, 0n);
    for (const [k, key] of dev.keys.entries()) expect(before[k]! - (await ledger.getUsdcBalance(new PublicKey(key.wallet)))).toBe(total);
    const rows = await sql.query("select status from tdk_usage where api_key_id = any($1)", [dev.keys.map((key) => key.keyId)]);
    expect(rows.rows.map((row) => row.status)).toEqual(Array(8).fill("succeeded"));
  });

  it("the rate limit is exact across instances: 100 a minute for a free key, whichever instance answers", async () => {
    const dev = await developer("limit", 1, "free");
    const key = dev.keys[0]!.apiKey;
    // @upstash/ratelimit's sliding window weighs the previous fixed (epoch-aligned) minute by what is
    // left of it: a burst that straddles a minute boundary may pass 101. Start well inside a minute.
    const intoMinute = Date.now() % 60_000;
    if (intoMinute > 45_000) await new Promise((resolve) => setTimeout(resolve, 60_000 - intoMinute + 250));
    const answers: number[] = [];
    for (let batch = 0; batch < 5; batch += 1) {
      answers.push(
        ...(await Promise.all(Array.from({ length: 30 }, (_, i) => api(i % 2, "GET", "/api/tdk/v1/usage?limit=1", { bearer: key })))).map(
          (answer) => answer.status,
        ),
      );
    }
    expect(answers.filter((status) => status === 200)).toHaveLength(100);
    expect(answers.filter((status) => status === 429)).toHaveLength(50);
  });

  it("overlapping report-usage runs on both instances bill each call once", async () => {
    const dev = await developer("billing");
    // Its Stripe customer, as a subscription would have left it.
    const stripe = new Stripe(STRIPE_KEY, {
      host: new URL(cluster.stripe).hostname,
      port: Number(new URL(cluster.stripe).port),
      protocol: "http",
      telemetry: false,
    });
    const customer = (await stripe.customers.create({ email: dev.email })).id;
    await sql.query("update tdk_accounts set stripe_customer_id = $2 where email = $1", [dev.email, customer]);
    for (const [i, body] of agentCalls.entries())
      expect((await api(i % 2, "POST", "/api/tdk/v1/call", { bearer: dev.keys[0]!.apiKey, body })).status).toBe(200);
    const [{ total }] = (
      await sql.query(
        "select sum(developer_cost_micro)::int as total from tdk_usage u join tdk_accounts a on a.id = u.account_id where a.email = $1 and u.status = 'succeeded'",
        [dev.email],
      )
    ).rows;

    const runs = await Promise.all([A, B, A, B].map((instance) => api(instance, "GET", "/api/cron/report-usage", { bearer: CRON_SECRET })));
    expect(runs.every((run) => run.status === 200)).toBe(true);
    const meter = await stripe.billing.meters.create({
      display_name: "TDK usage",
      event_name: "tdk_usage_micro",
      default_aggregation: { formula: "sum" },
    });
    const now = Math.floor(Date.now() / 1000);
    const summaries = await stripe.billing.meters.listEventSummaries(meter.id, {
      customer,
      start_time: now - 86_400,
      end_time: now + 3_600,
    });
    expect(summaries.data[0]!.aggregated_value).toBe(total);
    const statuses = await sql.query(
      "select billing_status, count(*)::int as n from tdk_usage u join tdk_accounts a on a.id = u.account_id where a.email = $1 group by 1",
      [dev.email],
    );
    expect(statuses.rows).toEqual([{ billing_status: "reported", n: 4 }]);
  });

  it("kill -9 of one instance in the middle of calls: the other recovers every pending call, no double payment, no lost usage row", async () => {
    const dev = await developer("kill", 3);
    const ledger = new LocalnetLedger(cluster.rpc.url, cluster.rpc.usdcMint);
    const wallets = dev.keys.map((key) => new PublicKey(key.wallet));
    const before = await Promise.all(wallets.map((wallet) => ledger.getUsdcBalance(wallet)));
    const victim = cluster.gateways[A]!;
    const keyIds = dev.keys.map((key) => key.keyId);
    const inFlight = dev.keys.flatMap((key) =>
      agentCalls.map((body) =>
        api(A, "POST", "/api/tdk/v1/call", { bearer: key.apiKey, body }).catch((error: Error) => ({
          status: 0,
          json: { error: error.message },
        })),
      ),
    );
    // Killed once a payment is signed and on its way: a call is certainly cut in the middle.
    for (let tries = 0; tries < 500; tries += 1) {
      const [{ n }] = (
        await sql.query(
          "select count(*)::int as n from tdk_usage where api_key_id = any($1) and status = 'pending' and tx_signature is not null",
          [keyIds],
        )
      ).rows;
      if (n > 0) break;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    process.kill(victim.pid, "SIGKILL");
    const answers = await Promise.all(inFlight);
    expect(answers.filter((answer) => answer.status === 0).length).toBeGreaterThan(0);
    const [{ pending }] = (
      await sql.query("select count(*)::int as pending from tdk_usage where api_key_id = any($1) and status = 'pending'", [keyIds])
    ).rows;
    expect(pending).toBeGreaterThan(0);

    // The chain moves on past every payment the dead instance signed, so none can land later.
    await ledger.expireBlockhashes();
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    const recovered = await api(B, "GET", "/api/cron/recover-calls", { bearer: CRON_SECRET });
    expect(recovered.status).toBe(200);

    const rows = (
      await sql.query("select api_key_id, status, tx_signature, agent_cost_micro::int as cost from tdk_usage where api_key_id = any($1)", [
        keyIds,
      ])
    ).rows as {
      api_key_id: string;
      status: string;
      tx_signature: string | null;
      cost: number;
    }[];
    expect(rows.filter((row) => row.status === "pending")).toEqual([]);
    for (const [k, wallet] of wallets.entries()) {
      const mine = rows.filter((row) => row.api_key_id === dev.keys[k]!.keyId);
      // Every landed payment has its row, settled as paid; every paid row's payment landed; nothing twice.
      const statuses = await ledger.getSignatureStatuses(mine.filter((row) => row.tx_signature).map((row) => row.tx_signature!));
      const signed = mine.filter((row) => row.tx_signature);
      for (const [i, row] of signed.entries())
        expect(statuses[i] === "confirmed").toBe(row.status === "succeeded" || row.status === "agent_failed");
      const paid = mine
        .filter((row) => row.status === "succeeded" || row.status === "agent_failed")
        .reduce((sum, row) => sum + BigInt(row.cost), 0n);
      expect(before[k]! - (await ledger.getUsdcBalance(wallet))).toBe(paid);
      const landedOnChain = (await ledger.signaturesForAddress(wallet)).length;
      // The wallet's history: its funding plus one transaction per paid row.
      expect(landedOnChain).toBe(1 + mine.filter((row) => row.status === "succeeded" || row.status === "agent_failed").length);
    }
  });
});
