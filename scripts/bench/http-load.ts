/**
 * `npm run bench` section 9: HTTP load against a production build (`next build`, then `next start`)
 * that the bench starts itself, with autocannon in a process of its own, on the embedded default
 * (PGlite, the in-process ledger and demo marketplace), with its database on PostgreSQL, and on the
 * production shape (`npm run cluster`: PostgreSQL, Upstash, the RPC ledger and marketplace in processes of their own). Three
 * routes, interleaved in rounds so that a noisy neighbour hits them alike:
 *   floor     GET  /api/health/live             no I/O: what Next.js itself costs
 *   key-auth  GET  /api/tdk/v1/usage?limit=1    the API-key wrapper (hash lookup, rate limit) and one indexed read
 *   paid call POST /api/tdk/v1/call             the whole pipeline: reserve, build, verify, sign, pay, settle
 *             (16 connections, 256 keys, 4 agents: a key's calls are sequential, and it comes back to an
 *             agent once its last payment to it is on an older blockhash)
 *   paid, 1 key/conn   the same with 16 keys: the marketplace adds no nonce, so a key's second payment to
 *             an agent within a slot is byte-identical to its first and waits for the next blockhash; the
 *             rounds print how many payments were rebuilt so
 * Then the server's RSS over 10,000 paid calls (BENCH_HTTP_MEMORY_CALLS), before and after.
 *
 * The keys are made before the server starts, with the gateway's own code on the same data (PGlite
 * allows one process at a time): pro accounts, one key each, wallets funded. The marketplace's own
 * per-wallet limit is off (MARKETPLACE_CALLS_PER_WALLET_PER_MINUTE=0): it is the gateway that is measured.
 * BENCH_PROFILE=<dir> starts the server with `--cpu-prof` and writes its profile there; the server is
 * then built unminified (into .next-profile), so that the profile names its functions, and each of
 * its threads' profiles is summarised once the shape stops (./cpu-profile.ts).
 */
import { setAccountTier } from "@/lib/auth/account-store";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import path from "node:path";
import { registerAccount } from "@/lib/auth/accounts";
import { buildAppContext } from "@/lib/context";
import { parseEnv } from "@/lib/env";
import { createApiKey } from "@/lib/keys/keys";
import type { LocalLedger } from "@/lib/solana/local-ledger";
import { freePort } from "@/tests/helpers/server";
import { ensureBuild, startGateway } from "../cluster";
import { servicesFor } from "@/lib/services";
import {
  cpuSeconds,
  cpuSecondsByThread,
  machineCpuSeconds,
  postgresCpuBetween,
  postgresCpuSeconds,
  rssMb,
  schedSeconds,
  type ThreadCpu,
} from "./proc";
import { formatProfileSummary, newProfiles, profiledThread, readCpuProfile, summarizeCpuProfile } from "./cpu-profile";

const root = path.resolve(__dirname, "../..");
/** A profiled run's server is built unminified, so that its profile names functions (next.config.ts), in a folder of its own. */
const PROFILE_DIR = process.env.BENCH_PROFILE ? path.resolve(process.env.BENCH_PROFILE) : null;
const PROFILING = PROFILE_DIR !== null;
const DIST_DIR = PROFILING ? ".next-profile" : ".next-cluster";

/**
 * Whether a shape or route is among those a BENCH_HTTP_* variable names (all when it is unset): by
 * the start of its name, ";" between them, as names hold commas ("embedded, database on PostgreSQL").
 */
function pickedBy(selection: string | undefined, name: string): boolean {
  return !selection || selection.split(";").some((prefix) => name.startsWith(prefix.trim()));
}

export interface LoadResult {
  requests: number;
  perSecond: number;
  p50: number;
  p99: number;
  mean: number;
  statuses: Record<string, number>;
  errors: number;
  timeouts: number;
  /** The load generator's own CPU seconds over the run. */
  cpuSeconds: number;
  /** How long the load ran, as the load generator measured it (its own start not included). */
  seconds: number;
}

export interface LoadOptions {
  url: string;
  method?: "GET" | "POST";
  seconds?: number;
  amount?: number;
  connections: number;
  keys?: string[];
  bodies?: unknown[];
  forwardedFor?: string;
}

/** Runs `scripts/bench/load.mjs` (autocannon) in its own process and reads its one JSON line. */
export function runLoad(options: LoadOptions): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(root, "scripts/bench/load.mjs"), JSON.stringify(options)], {
      cwd: root,
      stdio: ["ignore", "pipe", "inherit"],
    });
    let output = "";
    child.stdout.on("data", (chunk) => (output += chunk));
    child.on("error", reject);
    child.on("exit", (code) => {
      if (code !== 0) return reject(new Error(`load generator exited with ${code}: ${output}`));
      resolve(JSON.parse(output.trim().split("\n").at(-1)!) as LoadResult);
    });
  });
}

/** What the gateway logs when a key's payment is byte-identical to one of its calls in flight (paid-call.ts). */
const IDENTICAL = "payment identical to one in flight";
const count = (text: string, what: string) => text.split(what).length - 1;

/**
 * What a "not 200" in a load was: the gateway's log lines of the first `max` requests it answered
 * other than 200 in `output`, each with every other line it logged under the same request id.
 */
function notOkRequestLines(output: string, max = 3): string[] {
  const lines = output.split("\n");
  const ids = new Set<string>();
  for (const line of lines) {
    const found = /"request_id":"([^"]+)".*"status":(\d{3})/.exec(line);
    if (found && found[2] !== "200" && ids.size < max) ids.add(found[1]!);
  }
  return lines.filter((line) => [...ids].some((id) => line.includes(id))).map((line) => `        ${line.slice(0, 400)}`);
}
const answeredOnly200 = (result: LoadResult) => Object.keys(result.statuses).every((status) => status === "200");

export const PAID_BODIES = [
  { agent_id: "warmmemory", input: { action: "store", key: "k", value: "v" } },
  { agent_id: "textstats", input: { text: "the load test" } },
  { agent_id: "sentiment", input: { text: "good and fast" } },
  { agent_id: "echo", input: { hello: "bench" } },
];

/** Pro accounts with one funded key each, made with the gateway's own code on the server's data, before it starts. */
export async function prepareKeys(gatewayEnv: NodeJS.ProcessEnv, count: number): Promise<string[]> {
  const app = await buildAppContext(parseEnv(gatewayEnv));
  try {
    const deps = await servicesFor(app).keys.deps();
    const keys: string[] = [];
    for (let i = 0; i < count; i += 1) {
      const account = await registerAccount(app.db, `load-${i}-${randomBytes(4).toString("hex")}@example.com`, "bench-password-42");
      if (!account.ok) throw new Error("bench account not created");
      await setAccountTier(app.db, account.account.id, "pro");
      // $20 and 0.02 SOL a key: more than the calls of every round cost, fees included (a key of
      // "paid, 1 key/conn" makes about 300 calls, 0.0015 SOL of fees). The treasury's float (10 SOL
      // by default) covers 256 keys' 5.12 SOL; at 0.1 SOL a key, the production shape's keys past
      // about the hundredth went unfunded and answered 402.
      const created = await createApiKey(
        { ...deps, config: { ...deps.config, initialUsdcMicro: 20_000_000n, initialSolLamports: 20_000_000n } },
        account.account.id,
        `load ${i}`,
      );
      if (!created.ok) throw new Error(`bench key not created: ${created.code}`);
      // A key left unfunded would measure 402s, not paid calls.
      if (created.funding?.status !== "confirmed")
        throw new Error(`bench key ${i} not funded: ${JSON.stringify(created.funding)} (the treasury's float: TREASURY_FLOAT_*)`);
      keys.push(created.apiKey);
    }
    return keys;
  } finally {
    await app.db.close();
    if (app.ledger.kind === "local") await (app.ledger as LocalLedger).close();
  }
}

interface RunningShape {
  url: string;
  pid: number;
  keys: string[];
  /** What the server wrote to stdout and stderr so far. */
  output: () => string;
  stop: () => Promise<void>;
}

interface Shape {
  name: string;
  start: (keysCount: number) => Promise<RunningShape>;
}

/** The gateway's Node flags: a CPU profile (BENCH_PROFILE=<dir>), and any others (BENCH_GATEWAY_NODE_ARGS, space-separated). */
const profileArgs = () => [
  ...(PROFILE_DIR ? ["--cpu-prof", `--cpu-prof-dir=${PROFILE_DIR}`] : []),
  ...(process.env.BENCH_GATEWAY_NODE_ARGS?.split(" ").filter(Boolean) ?? []),
];

/**
 * `next start` on the embedded defaults (the in-process ledger and demo marketplace), its database
 * PGlite or PostgreSQL, its client on a thread of its own (the default) or on the request thread.
 */
function embeddedShape(databaseUrl: string | null, thread: "worker" | "main" = "worker"): Shape {
  return {
    name: databaseUrl
      ? thread === "worker"
        ? "embedded, database on PostgreSQL"
        : "embedded, PostgreSQL's client on the request thread (POSTGRES_THREAD=main, as before)"
      : thread === "worker"
        ? "embedded default (PGlite on its own thread)"
        : "embedded, PGlite on the request thread (PGLITE_THREAD=main, as before)",
    start: async (keysCount) => {
      const dataDir = await mkdtemp(path.join(tmpdir(), "tdk-bench-http-"));
      const database = databaseUrl ? await (await import("@/tests/helpers/postgres")).createTempDatabase(databaseUrl) : null;
      const env: NodeJS.ProcessEnv = {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        NODE_ENV: "production",
        NEXT_TELEMETRY_DISABLED: "1",
        TDK_NEXT_DIST_DIR: DIST_DIR,
        TDK_ALLOW_EMBEDDED: "1",
        TDK_ALLOW_MEMORY_LIMITER: "1",
        TDK_DATA_DIR: dataDir,
        WALLET_ENCRYPTION_KEY: randomBytes(32).toString("hex"),
        MARKETPLACE_CALLS_PER_WALLET_PER_MINUTE: "0",
        PGLITE_THREAD: thread,
        POSTGRES_THREAD: thread,
        ...(database && { DATABASE_URL: database.url }),
        // Another pool size to compare against the default (lib/env.ts DEFAULT_DATABASE_POOL_MAX).
        ...(database && process.env.DATABASE_POOL_MAX && { DATABASE_POOL_MAX: process.env.DATABASE_POOL_MAX }),
      };
      const cleanup = async () => {
        await database?.drop();
        await rm(dataDir, { recursive: true, force: true });
      };
      try {
        const keys = await prepareKeys(env, keysCount);
        const gateway = await startGateway(await freePort(), env, profileArgs());
        const stop = async () => {
          await gateway.stop();
          await cleanup();
        };
        return { url: gateway.url, pid: gateway.pid, keys, output: gateway.output, stop };
      } catch (error) {
        await cleanup();
        throw error;
      }
    },
  };
}

/**
 * The production shape (`npm run cluster`, one gateway): PostgreSQL, Upstash through the REST bridge
 * to Redis, RpcLedger against the local cluster process, the marketplace in its own process.
 */
function clusterShape(databaseUrl: string, redisUrl: string): Shape {
  return {
    name: "production shape (PostgreSQL, Upstash, RPC ledger and marketplace processes)",
    start: async (keysCount) => {
      const { startCluster } = await import("../cluster");
      const { createTempDatabase } = await import("@/tests/helpers/postgres");
      const database = await createTempDatabase(databaseUrl);
      const dataDir = await mkdtemp(path.join(tmpdir(), "tdk-bench-http-cluster-"));
      const cleanup = async () => {
        await database.drop();
        await rm(dataDir, { recursive: true, force: true });
      };
      try {
        const cluster = await startCluster({
          ports: [await freePort()],
          databaseUrl: database.url,
          redisUrl,
          dataDir,
          env: {
            PATH: process.env.PATH,
            HOME: process.env.HOME,
            NODE_ENV: "production",
            TDK_NEXT_DIST_DIR: DIST_DIR,
            MARKETPLACE_CALLS_PER_WALLET_PER_MINUTE: "0",
            CRON_SECRET: randomBytes(16).toString("hex"),
          },
          log: () => {},
          gatewayNodeArgs: profileArgs(),
        });
        // The keys are made with the gateway's own code against the running cluster's parts.
        const keys = await prepareKeys(cluster.gatewayEnv, keysCount).catch(async (error) => {
          await cluster.stop();
          throw error;
        });
        const gateway = cluster.gateways[0]!;
        const stop = async () => {
          await cluster.stop();
          await cleanup();
        };
        return { url: gateway.url, pid: gateway.pid, keys, output: gateway.output, stop };
      } catch (error) {
        await cleanup();
        throw error;
      }
    },
  };
}

const fmt = (result: LoadResult) => {
  const other = Object.entries(result.statuses).filter(([status]) => status !== "200");
  return (
    `${result.perSecond.toFixed(1).padStart(7)} req/s · p50 ${String(result.p50).padStart(4)} ms · p99 ${String(result.p99).padStart(4)} ms` +
    (other.length || result.errors
      ? ` · not 200: ${other.map(([status, n]) => `${n}× ${status}`).join(", ")}${result.errors ? ` ${result.errors} errors` : ""}`
      : "")
  );
};

/** Seconds as milliseconds, two decimals. */
const ms = (seconds: number) => (seconds * 1000).toFixed(2);

/**
 * How far the rounds of one run lie apart, and the paid call's share of the floor within each round
 * (its two measurements seconds apart). On a shared machine the same build has measured 24.5% and
 * 41.3% in two runs fourteen minutes apart (its floor 892.5 and 674.5 req/s): a best-of ratio that
 * crosses the target once says little unless the rounds agree.
 */
function roundsSpread(results: Map<string, LoadResult[]>): string {
  const rates = (name: string) => (results.get(name) ?? []).map((result) => result.perSecond);
  const range = (name: string, unit: string) => {
    const values = rates(name);
    const low = Math.min(...values);
    const high = Math.max(...values);
    return `${low.toFixed(1)}–${high.toFixed(1)} ${unit} (the slowest round ${(((high - low) / high) * 100).toFixed(0)}% under the fastest)`;
  };
  const floor = rates("floor");
  const shares = rates("paid call").map((paid, round) => `${((paid / floor[round]!) * 100).toFixed(1)}%`);
  return `rounds apart: floor ${range("floor", "req/s")} · paid call ${range("paid call", "calls/s")} · the paid call's share of the floor round by round: ${shares.join(", ")}`;
}

async function measureShape(shape: Shape, keysCount: number) {
  console.log(`\n### ${shape.name}`);
  const profilesBefore = new Set(PROFILE_DIR ? await readdir(PROFILE_DIR).catch(() => []) : []);
  const gateway = await shape.start(keysCount);
  const { keys } = gateway;
  try {
    const seconds = Number(process.env.BENCH_HTTP_SECONDS ?? 10);
    const connections = Math.min(keysCount, Number(process.env.BENCH_HTTP_CONNECTIONS ?? 16));
    const paid = { url: `${gateway.url}/api/tdk/v1/call`, method: "POST" as const, connections, bodies: PAID_BODIES };
    const routes = {
      floor: { url: `${gateway.url}/api/health/live`, connections },
      "key-auth": { url: `${gateway.url}/api/tdk/v1/usage?limit=1`, connections, keys },
      "paid call": { ...paid, keys },
      // The same load with one key a connection: the marketplace's payments carry no nonce, so a key
      // pays an agent at most once a blockhash (a slot, 400 ms) and the rest wait for the next one.
      "paid, 1 key/conn": { ...paid, keys: keys.slice(0, connections) },
    };
    // BENCH_HTTP_ROUTES=paid (or floor;key-auth) measures some routes only: a profile of one route.
    const measured = Object.entries(routes).filter(([name]) => pickedBy(process.env.BENCH_HTTP_ROUTES, name));
    const everyRoute = measured.length === Object.keys(routes).length;
    // Warm-up: every route compiled, every key's wallet touched, and the hot code optimised by V8.
    // 10 s a route (BENCH_HTTP_WARMUP_SECONDS): after 3 s, three 10 s rounds of paid calls measured
    // 87.7, 119.3 and 150.8 calls/s one after the other, the server still getting faster.
    const warmup = Number(process.env.BENCH_HTTP_WARMUP_SECONDS ?? 10);
    for (const [name, options] of measured) if (name !== "paid, 1 key/conn") await runLoad({ ...options, seconds: warmup });
    const results = new Map<string, LoadResult[]>();
    const cpu = new Map<string, number[]>();
    const machine = new Map<string, number[]>();
    const requestThread = new Map<string, number[]>();
    const rounds = Number(process.env.BENCH_HTTP_ROUNDS ?? 2);
    for (let round = 0; round < rounds; round += 1) {
      for (const [name, options] of measured) {
        const logged = gateway.output().length;
        // Read outside the machine's window: scanning /proc for PostgreSQL's processes is the bench's own work.
        const postgresBefore = await postgresCpuSeconds();
        const machineBefore = await machineCpuSeconds();
        const cpuBefore = await cpuSeconds(gateway.pid);
        const threadsBefore = await cpuSecondsByThread(gateway.pid);
        const schedBefore = await schedSeconds(gateway.pid);
        const result = await runLoad({ ...options, seconds });
        const schedAfter = await schedSeconds(gateway.pid);
        // The server's CPU (every thread) per request answered: what a route costs, whatever the machine's noise.
        const cpuPerRequest = ((await cpuSeconds(gateway.pid)) - cpuBefore) / result.requests;
        const threadsAfter = await cpuSecondsByThread(gateway.pid);
        const machineAfter = await machineCpuSeconds();
        const postgresPerRequest = postgresCpuBetween(postgresBefore, await postgresCpuSeconds()) / result.requests;
        const perRequest = (kind: keyof ThreadCpu) => ms((threadsAfter[kind] - threadsBefore[kind]) / result.requests);
        const split = `request thread ${perRequest("request")} + worker threads ${perRequest("workers")} + V8's (GC) ${perRequest("v8")} + other ${perRequest("other")}`;
        results.set(name, [...(results.get(name) ?? []), result]);
        cpu.set(name, [...(cpu.get(name) ?? []), cpuPerRequest]);
        const rebuilt = name.startsWith("paid")
          ? ` · rebuilt on the next blockhash: ${count(gateway.output().slice(logged), IDENTICAL)}`
          : "";
        // The whole machine's CPU per request, and what of it was the server's and the load generator's:
        // the rest is the shape's other processes (PostgreSQL, the stand-ins), the kernel, the bench,
        // and the load generator's start (about 0.1 s, before it measures itself).
        const machineBusy = machineAfter.busy - machineBefore.busy;
        const machineTotal = machineBusy + machineAfter.idle - machineBefore.idle + machineAfter.steal - machineBefore.steal;
        const machinePerRequest = machineBusy / result.requests;
        const generatorPerRequest = result.cpuSeconds / result.requests;
        machine.set(name, [...(machine.get(name) ?? []), machinePerRequest]);
        requestThread.set(name, [...(requestThread.get(name) ?? []), (threadsAfter.request - threadsBefore.request) / result.requests]);
        const share = (value: number) => `${((value / machineTotal) * 100).toFixed(0)}%`;
        // Where the request thread's time went while the load ran: on a CPU, queued for one behind the
        // shape's other threads and processes, or asleep with nothing to do (the rest).
        const ofLoad = (part: number) => `${((part / result.seconds) * 100).toFixed(0)}%`;
        const requestThreadTime =
          schedBefore && schedAfter
            ? ` · request thread on a CPU ${ofLoad(schedAfter.running - schedBefore.running)} of the load's ${result.seconds.toFixed(1)} s, ` +
              `waiting for one ${ofLoad(schedAfter.waiting - schedBefore.waiting)}`
            : "";
        console.log(
          `round ${round + 1} ${name.padEnd(16)} ${fmt(result)} · server CPU ${ms(cpuPerRequest)} ms a request (${split})${rebuilt}\n` +
            `        machine CPU ${ms(machinePerRequest)} ms a request: server ${ms(cpuPerRequest)} + load generator ${ms(generatorPerRequest)} + ` +
            `the rest ${ms(machinePerRequest - cpuPerRequest - generatorPerRequest)} (PostgreSQL's processes ${ms(postgresPerRequest)}) · ` +
            `machine idle ${share(machineAfter.idle - machineBefore.idle)}, stolen ${share(machineAfter.steal - machineBefore.steal)}${requestThreadTime}`,
        );
        if (!answeredOnly200(result)) for (const line of notOkRequestLines(gateway.output().slice(logged))) console.log(line);
      }
    }
    const best = (name: string) => Math.max(...(results.get(name) ?? []).map((result) => result.perSecond));
    const paidBest = best("paid call");
    if (everyRoute)
      console.log(
        `best of ${rounds}: floor ${best("floor").toFixed(1)} req/s · key-auth ${best("key-auth").toFixed(1)} req/s · paid call ${paidBest.toFixed(1)} calls/s ` +
          `(target ≥ 200) = ${((paidBest / best("floor")) * 100).toFixed(1)}% of the floor (target ≥ 40%); ${connections} connections, ${keys.length} keys, ${seconds} s a round; ` +
          `with one key a connection ${best("paid, 1 key/conn").toFixed(1)} calls/s (a key pays an agent once a 400 ms slot: ${connections} keys × ${PAID_BODIES.length} agents × 2.5 slots/s ≈ ${connections * PAID_BODIES.length * 2.5} distinct payments a second)`,
      );
    if (everyRoute) {
      console.log(roundsSpread(results));
      // What the ratio target asks of the code: a paid call may cost the server at most 2.5 floor requests.
      const least = (name: string, of = cpu) => Math.min(...(of.get(name) ?? []));
      console.log(
        `server CPU a request (least of ${rounds}): floor ${ms(least("floor"))} ms · key-auth ${ms(least("key-auth"))} ms · ` +
          `paid call ${ms(least("paid call"))} ms = ${(least("paid call") / least("floor")).toFixed(1)} floor requests (40% of the floor's throughput, were both CPU-bound: ≤ 2.5)`,
      );
      // A route's throughput meets two limits here: the server's one request thread, and the
      // machine's cores, which the server, the load generator and the shape's other processes share.
      // What 40% of the best floor round allows a paid call of each, next to what it used.
      const cores = availableParallelism();
      const target = 0.4 * best("floor");
      console.log(
        `at 40% of the floor (${target.toFixed(1)} calls/s) a paid call may use ${ms(1 / target)} ms of the request thread (it used ${ms(least("paid call", requestThread))}; ` +
          `a floor request ${ms(least("floor", requestThread))}) and ${ms(cores / target)} ms of the machine's ${cores} cores (it used ${ms(least("paid call", machine))}; ` +
          `a floor request ${ms(least("floor", machine))}), least of ${rounds} rounds`,
      );
    }

    // RSS after every quarter (BENCH_HTTP_MEMORY_STEPS) of 10,000 more paid calls: a leak grows
    // in every step, the V8 heaps and the allocator's high-water mark grow at first and then level off.
    const memoryCalls = Number(process.env.BENCH_HTTP_MEMORY_CALLS ?? 10_000);
    const steps = Number(process.env.BENCH_HTTP_MEMORY_STEPS ?? 4);
    if (memoryCalls > 0) {
      const points = [`${(await rssMb(gateway.pid)).toFixed(1)} MB`];
      let done = 0;
      let last: LoadResult | null = null;
      const notOk: string[] = [];
      for (let step = 1; step <= steps; step += 1) {
        const logged = gateway.output().length;
        last = await runLoad({ ...routes["paid call"], amount: Math.round((memoryCalls * step) / steps) - done });
        done += last.requests;
        points.push(`${(await rssMb(gateway.pid)).toFixed(1)} MB`);
        if (!answeredOnly200(last)) notOk.push(`        step ${step}: ${fmt(last)}`, ...notOkRequestLines(gateway.output().slice(logged)));
      }
      console.log(
        `server RSS over ${done.toLocaleString("en-US")} more paid calls, every ${(memoryCalls / steps).toLocaleString("en-US")}: ${points.join(" → ")} (last step: ${fmt(last!)})`,
      );
      for (const line of notOk) console.log(line);
    }
  } finally {
    await gateway.stop();
  }
  if (PROFILE_DIR) await printProfiles(PROFILE_DIR, profilesBefore);
}

/** Where the server's threads' time went, from the profiles it wrote as it stopped (BENCH_PROFILE). */
async function printProfiles(dir: string, before: Set<string>) {
  const files = await newProfiles(dir, before);
  if (files.length === 0) console.log(`(no CPU profile in ${dir}: the server did not stop cleanly)`);
  for (const file of files) {
    const { pid, thread } = profiledThread(file);
    console.log(
      `CPU profile of server process ${pid}, ${thread === 0 ? "its request thread" : `its worker thread ${thread}`} (${path.basename(file)}):`,
    );
    for (const line of formatProfileSummary(summarizeCpuProfile(await readCpuProfile(file)))) console.log(`        ${line}`);
  }
}

const builtThisRun = new Set<string>();

/**
 * Builds the app into `distDir` for this run, once per run: every section that starts `next start`
 * measures this checkout, never a build an earlier run left in the directory (section 6 once ran a
 * build older than the database's functions and got only 500s). BENCH_HTTP_REBUILD=0 keeps a build
 * that exists.
 */
export function buildForBench(distDir: string, extraEnv: Record<string, string> = {}): void {
  if (builtThisRun.has(distDir)) return;
  const env = { ...process.env, NEXT_TELEMETRY_DISABLED: "1", TDK_ALLOW_EMBEDDED: "1", TDK_NEXT_DIST_DIR: distDir, ...extraEnv };
  ensureBuild(env, (line) => console.log(line), { force: process.env.BENCH_HTTP_REBUILD !== "0" });
  builtThisRun.add(distDir);
}

export async function benchHttpLoad(): Promise<void> {
  console.log("\n## 9. HTTP load on a production build (next start), autocannon in its own process");
  buildForBench(DIST_DIR, PROFILING ? { TDK_UNMINIFIED_BUILD: "1" } : {});
  // 256 keys on 16 connections, 16 each: a key comes back to an agent after 64 calls of its
  // connection, so its last payment to it is on an older blockhash (a 400 ms slot) up to
  // 16 × 64 / 0.4 = 2,560 calls a second on average. With 64 keys (16 calls) that is 640, and
  // connections do not all go at the average: at 590–620 calls a second (issue 11, ninth session,
  // AMD EPYC) the paid-call rounds rebuilt 94–220 payments each, each waiting for the next
  // blockhash, and measured 33.1–34.5% of the floor, against 36.3–40.4% with 256 keys and none
  // rebuilt, alternated in the same hour. That wait is what "paid, 1 key/conn" measures.
  const keysCount = Number(process.env.BENCH_HTTP_KEYS ?? 256);
  const shapes = [embeddedShape(null), embeddedShape(null, "main")];
  const databaseUrl = process.env.BENCH_DATABASE_URL;
  const redisUrl = process.env.TEST_REDIS_URL;
  if (databaseUrl) shapes.push(embeddedShape(databaseUrl), embeddedShape(databaseUrl, "main"));
  if (databaseUrl && redisUrl) shapes.push(clusterShape(databaseUrl, redisUrl));
  if (!databaseUrl || !redisUrl)
    console.log("(set BENCH_DATABASE_URL, and TEST_REDIS_URL, for the same on PostgreSQL and on the production shape)");
  // BENCH_HTTP_SHAPES=embedded (or production) measures those shapes only.
  const chosen = shapes.filter((shape) => pickedBy(process.env.BENCH_HTTP_SHAPES, shape.name));
  for (const shape of chosen) await measureShape(shape, keysCount);
}
