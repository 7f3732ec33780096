/**
 * Two production builds side by side on one route, for a change whose effect is smaller than this
 * shared machine's drift between two bench runs (issue 11: one build's floor went from 790 to 1063
 * req/s between runs minutes apart). Both servers run at once; requests go to them in alternating
 * blocks, so a slow stretch of the machine falls on both alike; each block's figures are its
 * server's CPU (user + system, all threads, from /proc), and its request thread's, divided by its
 * requests.
 *
 *   npx tsx scripts/bench/compare-builds.ts <distDirA> <distDirB> [route] [blocks] [requestsPerBlock]
 *
 * The dist dirs are folders under the project's root holding `next build` output: build one with
 * `TDK_NEXT_DIST_DIR=.next-compare-a npx next build` (git ignores `.next-compare-*`); the same
 * folder twice compares Node flags instead, given to each side by COMPARE_NODE_ARGS_A and
 * COMPARE_NODE_ARGS_B (space-separated, after the gateway's own: scripts/gateway-flags.ts). The
 * default route is the floor, GET /api/health/live; any route that answers 200 without a key will
 * do, and `paid` is the paid call (POST /api/tdk/v1/call) as section 9 sends it, 16 connections
 * on 128 funded keys a server.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { freePort } from "@/tests/helpers/server";
import { startGateway } from "../cluster";
import { PAID_BODIES, prepareKeys, runLoad, type LoadOptions } from "./http-load";
import { cpuSeconds, cpuSecondsByThread } from "./proc";

const IN_FLIGHT = 4;
/** The paid call's load: section 9's connections, and keys enough that no payment waits for a new blockhash. */
const PAID = { connections: 16, keys: 128 };

/**
 * `next start` on one build, on embedded defaults and a data dir of its own (what the route needs
 * beyond the floor is built at start), with funded keys when the route is the paid call.
 */
async function startBuild(name: string, distDir: string, nodeArgs: string[], paid: boolean) {
  const dataDir = await mkdtemp(path.join(tmpdir(), "tdk-compare-"));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_ENV: "production",
    NEXT_TELEMETRY_DISABLED: "1",
    TDK_NEXT_DIST_DIR: distDir,
    TDK_DATA_DIR: dataDir,
    TDK_ALLOW_EMBEDDED: "1",
    TDK_ALLOW_MEMORY_LIMITER: "1",
    WALLET_ENCRYPTION_KEY: randomBytes(32).toString("hex"),
    MARKETPLACE_CALLS_PER_WALLET_PER_MINUTE: "0",
  };
  try {
    const keys = paid ? await prepareKeys(env, PAID.keys) : [];
    const gateway = await startGateway(await freePort(), env, nodeArgs);
    return {
      name: `${name}${nodeArgs.length ? ` (${nodeArgs.join(" ")})` : ""}`,
      keys,
      ...gateway,
      stop: async () => {
        await gateway.stop();
        await rm(dataDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
}

/** `requests` requests (autocannon in its own process); every one must answer 200. */
async function load(options: LoadOptions, requests: number): Promise<void> {
  const result = await runLoad({ ...options, amount: requests });
  const notOk = result.requests - (result.statuses["200"] ?? 0);
  if (notOk > 0)
    throw new Error(`${options.url}: ${notOk} of ${result.requests} requests did not answer 200 (${JSON.stringify(result.statuses)})`);
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function main(): Promise<void> {
  const [distA, distB, route = "/api/health/live", blocksArg = "16", perBlockArg = "1500"] = process.argv.slice(2);
  if (!distA || !distB) throw new Error("usage: compare-builds.ts <distDirA> <distDirB> [route] [blocks] [requestsPerBlock]");
  const blocks = Number(blocksArg);
  const perBlock = Number(perBlockArg);
  const paid = route === "paid";
  const nodeArgs = (side: "A" | "B") => process.env[`COMPARE_NODE_ARGS_${side}`]?.split(" ").filter(Boolean) ?? [];
  const servers = [await startBuild(`A ${distA}`, distA, nodeArgs("A"), paid)];
  servers.push(
    await startBuild(`B ${distB}`, distB, nodeArgs("B"), paid).catch(async (error) => {
      await servers[0]!.stop();
      throw error;
    }),
  );
  const options = (server: (typeof servers)[number]): LoadOptions =>
    paid
      ? { url: `${server.url}/api/tdk/v1/call`, method: "POST", connections: PAID.connections, keys: server.keys, bodies: PAID_BODIES }
      : { url: `${server.url}${route}`, method: "GET", connections: IN_FLIGHT };
  const costs = new Map(servers.map((server) => [server, { server: [] as number[], requestThread: [] as number[] }]));
  try {
    for (const server of servers) await load(options(server), 2 * perBlock); // warm-up: JIT, caches
    for (let block = 0; block < blocks; block += 1) {
      // A first in even blocks, B first in odd ones: neither always follows the other.
      for (const server of block % 2 === 0 ? servers : [...servers].reverse()) {
        const before = await cpuSeconds(server.pid);
        const threadsBefore = await cpuSecondsByThread(server.pid);
        await load(options(server), perBlock);
        const threadsAfter = await cpuSecondsByThread(server.pid);
        costs.get(server)!.server.push((((await cpuSeconds(server.pid)) - before) * 1000) / perBlock);
        costs.get(server)!.requestThread.push(((threadsAfter.request - threadsBefore.request) * 1000) / perBlock);
      }
    }
  } finally {
    for (const server of servers) await server.stop();
  }
  const where = paid ? `POST /api/tdk/v1/call (${PAID.connections} connections)` : `${route} (${IN_FLIGHT} in flight)`;
  console.log(`${where}: CPU a request, ${blocks} alternated blocks of ${perBlock} requests`);
  for (const kind of ["server", "requestThread"] as const) {
    const label = kind === "server" ? "the server (every thread)" : "its request thread";
    console.log(`  ${label}:`);
    for (const server of servers) {
      const values = costs.get(server)![kind];
      console.log(`    ${server.name}: median ${median(values).toFixed(3)} ms (blocks: ${values.map((ms) => ms.toFixed(2)).join(" ")})`);
    }
    const [a, b] = servers.map((server) => costs.get(server)![kind]);
    const differences = a!.map((ms, block) => ms - b![block]!);
    console.log(
      `    A − B, block by block: median ${median(differences).toFixed(3)} ms; A cost more in ${differences.filter((d) => d > 0).length} of ${blocks} blocks`,
    );
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
