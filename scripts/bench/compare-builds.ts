/**
 * Two production builds side by side on one route that needs no key, for a change whose effect is
 * smaller than this shared machine's drift between two bench runs (issue 11: the floor moved by a
 * fifth between runs minutes apart). Both servers run at once; requests go to them in alternating
 * blocks, so a slow stretch of the machine falls on both alike; each block's figure is its server's
 * CPU (user + system, all threads, from /proc) divided by its requests.
 *
 *   npx tsx scripts/bench/compare-builds.ts <distDirA> <distDirB> [route] [blocks] [requestsPerBlock]
 *
 * The dist dirs are folders under the project's root holding `next build` output: build one with
 * `TDK_NEXT_DIST_DIR=.next-compare-a npx next build` (git ignores `.next-compare-*`). The default
 * route is the floor, GET /api/health/live; any route that answers 200 without a key will do.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { freePort } from "@/tests/helpers/server";
import { cpuSeconds } from "./proc";

const root = path.resolve(__dirname, "../..");
const nextBin = path.join(root, "node_modules", "next", "dist", "bin", "next");
const IN_FLIGHT = 4;

interface Server {
  name: string;
  port: number;
  child: ChildProcess;
  dataDir: string;
}

async function startServer(name: string, distDir: string): Promise<Server> {
  const port = await freePort();
  const dataDir = await mkdtemp(path.join(tmpdir(), "tdk-compare-"));
  const child = spawn(process.execPath, [nextBin, "start", "-p", String(port), "-H", "127.0.0.1"], {
    cwd: root,
    env: {
      ...process.env,
      NODE_ENV: "production",
      NEXT_TELEMETRY_DISABLED: "1",
      TDK_NEXT_DIST_DIR: distDir,
      TDK_DATA_DIR: dataDir,
      TDK_ALLOW_EMBEDDED: "1",
      TDK_ALLOW_MEMORY_LIMITER: "1",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stderr!.on("data", (chunk) => (output += chunk));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on("data", (chunk) => {
      output += chunk;
      if (/Ready in/.test(output)) resolve();
    });
    child.once("exit", (code) => reject(new Error(`next start (${distDir}) exited with ${code}:\n${output}`)));
  });
  return { name, port, child, dataDir };
}

const agent = new http.Agent({ keepAlive: true });

function request(port: number, route: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path: route, agent }, (res) => {
      res.resume();
      res.on("end", () => (res.statusCode === 200 ? resolve() : reject(new Error(`${route} answered ${res.statusCode}`))));
    });
    req.on("error", reject);
  });
}

async function load(port: number, route: string, requests: number): Promise<void> {
  let left = requests;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (left-- > 0) await request(port, route);
    }),
  );
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function main(): Promise<void> {
  const [distA, distB, route = "/api/health/live", blocksArg = "16", perBlockArg = "1500"] = process.argv.slice(2);
  if (!distA || !distB) throw new Error("usage: compare-builds.ts <distDirA> <distDirB> [route] [blocks] [requestsPerBlock]");
  const blocks = Number(blocksArg);
  const perBlock = Number(perBlockArg);
  const servers = [await startServer(`A ${distA}`, distA), await startServer(`B ${distB}`, distB)] as const;
  const costs = new Map<Server, number[]>(servers.map((server) => [server, []]));
  try {
    for (const server of servers) await load(server.port, route, 2 * perBlock); // warm-up: JIT, caches
    for (let block = 0; block < blocks; block += 1) {
      // A first in even blocks, B first in odd ones: neither always follows the other.
      for (const server of block % 2 === 0 ? servers : [...servers].reverse()) {
        const before = await cpuSeconds(server.child.pid!);
        await load(server.port, route, perBlock);
        costs.get(server)!.push((((await cpuSeconds(server.child.pid!)) - before) * 1000) / perBlock);
      }
    }
  } finally {
    for (const server of servers) {
      server.child.kill("SIGTERM");
      await rm(server.dataDir, { recursive: true, force: true });
    }
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
