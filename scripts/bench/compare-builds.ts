/**
 * Two production builds side by side on one route that needs no key, for a change whose effect is
 * smaller than this shared machine's drift between two bench runs (issue 11: one build's floor went
 * from 790 to 1063 req/s between runs minutes apart). Both servers run at once; requests go to them in alternating
 * blocks, so a slow stretch of the machine falls on both alike; each block's figure is its server's
 * CPU (user + system, all threads, from /proc) divided by its requests.
 *
 *   npx tsx scripts/bench/compare-builds.ts <distDirA> <distDirB> [route] [blocks] [requestsPerBlock]
 *
 * The dist dirs are folders under the project's root holding `next build` output: build one with
 * `TDK_NEXT_DIST_DIR=.next-compare-a npx next build` (git ignores `.next-compare-*`). The default
 * route is the floor, GET /api/health/live; any route that answers 200 without a key will do.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { freePort } from "@/tests/helpers/server";
import { startGateway } from "../cluster";
import { runLoad } from "./http-load";
import { cpuSeconds } from "./proc";

const IN_FLIGHT = 4;

/** `next start` on one build, on embedded defaults and a data dir of its own (what the route needs beyond the floor is built at start). */
async function startBuild(name: string, distDir: string) {
  const dataDir = await mkdtemp(path.join(tmpdir(), "tdk-compare-"));
  const gateway = await startGateway(await freePort(), {
    ...process.env,
    NODE_ENV: "production",
    NEXT_TELEMETRY_DISABLED: "1",
    TDK_NEXT_DIST_DIR: distDir,
    TDK_DATA_DIR: dataDir,
    TDK_ALLOW_EMBEDDED: "1",
    TDK_ALLOW_MEMORY_LIMITER: "1",
  });
  return {
    name,
    ...gateway,
    stop: async () => {
      await gateway.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** `requests` requests to the route (autocannon in its own process, `IN_FLIGHT` at a time); every one must answer 200. */
async function load(url: string, requests: number): Promise<void> {
  const result = await runLoad({ url, method: "GET", connections: IN_FLIGHT, amount: requests });
  const notOk = result.requests - (result.statuses["200"] ?? 0);
  if (notOk > 0) throw new Error(`${url}: ${notOk} of ${result.requests} requests did not answer 200 (${JSON.stringify(result.statuses)})`);
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function main(): Promise<void> {
  const [distA, distB, route = "/api/health/live", blocksArg = "16", perBlockArg = "1500"] = process.argv.slice(2);
  if (!distA || !distB) throw new Error("usage: compare-builds.ts <distDirA> <distDirB> [route] [blocks] [requestsPerBlock]");
  const blocks = Number(blocksArg);
  const perBlock = Number(perBlockArg);
  const servers = [await startBuild(`A ${distA}`, distA), await startBuild(`B ${distB}`, distB)] as const;
  const costs = new Map(servers.map((server) => [server, [] as number[]]));
  try {
    for (const server of servers) await load(`${server.url}${route}`, 2 * perBlock); // warm-up: JIT, caches
    for (let block = 0; block < blocks; block += 1) {
      // A first in even blocks, B first in odd ones: neither always follows the other.
      for (const server of block % 2 === 0 ? servers : [...servers].reverse()) {
        const before = await cpuSeconds(server.pid);
        await load(`${server.url}${route}`, perBlock);
        costs.get(server)!.push((((await cpuSeconds(server.pid)) - before) * 1000) / perBlock);
      }
    }
  } finally {
    for (const server of servers) await server.stop();
  }
  console.log(`${route}: server CPU a request, ${blocks} alternated blocks of ${perBlock} requests (${IN_FLIGHT} in flight)`);
  for (const server of servers) {
    const values = costs.get(server)!;
    console.log(`  ${server.name}: median ${median(values).toFixed(3)} ms (blocks: ${values.map((ms) => ms.toFixed(2)).join(" ")})`);
  }
  const [a, b] = servers.map((server) => costs.get(server)!);
  const differences = a!.map((ms, block) => ms - b![block]!);
  console.log(
    `  A − B, block by block: median ${median(differences).toFixed(3)} ms; A cost more in ${differences.filter((d) => d > 0).length} of ${blocks} blocks`,
  );
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
