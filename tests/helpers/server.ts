import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";

/**
 * The real gateway for browser tests: `next build` into its own dist dir, then `next start` as in
 * production, on embedded defaults (TDK_ALLOW_EMBEDDED=1) and a fresh data dir.
 */
export interface RunningApp {
  url: string;
  dataDir: string;
  stop(): Promise<void>;
  output(): string;
}

const root = path.resolve(__dirname, "..", "..");
const nextBin = path.join(root, "node_modules", "next", "dist", "bin", "next");
const distDir = ".next-test";

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export async function startApp(
  extraEnv: Record<string, string> = {},
  options: { build?: boolean; dataDir?: string } = {},
): Promise<RunningApp> {
  const env = { ...process.env, NEXT_TELEMETRY_DISABLED: "1", TDK_NEXT_DIST_DIR: distDir };
  if (options.build !== false) {
    const build = spawnSync(process.execPath, [nextBin, "build"], { cwd: root, env: { ...env, NODE_ENV: "production" }, encoding: "utf8" });
    if (build.status !== 0) throw new Error(`next build failed:\n${build.stdout}\n${build.stderr}`);
  }

  // A given data dir is the caller's (kept at stop: a restart opens the same database and ledger).
  const dataDir = options.dataDir ?? (await mkdtemp(path.join(tmpdir(), "tdk-browser-")));
  const port = await freePort();
  let log = "";
  const child: ChildProcess = spawn(process.execPath, [nextBin, "start", "-p", String(port), "-H", "127.0.0.1"], {
    cwd: root,
    env: { ...env, NODE_ENV: "production", TDK_ALLOW_EMBEDDED: "1", TDK_ALLOW_MEMORY_LIMITER: "1", TDK_DATA_DIR: dataDir, ...extraEnv },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout!.on("data", (chunk) => (log += chunk));
  child.stderr!.on("data", (chunk) => (log += chunk));

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`next start exited early:\n${log}`);
    try {
      const health = await fetch(`${url}/api/health`);
      if (health.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`gateway did not become healthy:\n${log}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }

  return {
    url,
    dataDir,
    output: () => log,
    stop: async () => {
      if (child.exitCode === null) {
        child.kill("SIGTERM");
        await new Promise((resolve) => child.once("exit", resolve));
      }
      if (!options.dataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * `next start` of the build `startApp` made, with this environment, expected to refuse to start:
 * resolves with its exit code and output once it exits (or rejects if it is still up after 30 s).
 */
export async function startExpectingRefusal(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const dataDir = await mkdtemp(path.join(tmpdir(), "tdk-refusal-"));
  const port = await freePort();
  // Only what is given: none of the test run's own environment leaks into this start.
  const childEnv = {
    PATH: process.env.PATH ?? "",
    NEXT_TELEMETRY_DISABLED: "1",
    TDK_NEXT_DIST_DIR: distDir,
    TDK_DATA_DIR: dataDir,
    ...env,
  } as unknown as NodeJS.ProcessEnv;
  const child: ChildProcess = spawn(process.execPath, [nextBin, "start", "-p", String(port), "-H", "127.0.0.1"], {
    cwd: root,
    env: childEnv,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (chunk) => (output += chunk));
  child.stderr!.on("data", (chunk) => (output += chunk));
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error(`next start did not refuse to start within 30 s:\n${output}`));
      }, 30_000);
      child.once("exit", (exitCode) => {
        clearTimeout(timer);
        resolve(exitCode);
      });
    });
    return { code, output };
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** Debian's Chromium (CHROMIUM_PATH overrides); `npm test` installs it when missing. */
export function chromiumPath(): string {
  const candidates = [process.env.CHROMIUM_PATH, "/usr/bin/chromium", "/usr/bin/chromium-browser"].filter((p): p is string => !!p);
  const found = candidates.find((candidate) => existsSync(candidate));
  if (!found) throw new Error("Chromium not found: install Debian's `chromium` package or set CHROMIUM_PATH.");
  return found;
}

export const chromiumArgs = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
