import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import {
  formatProfileSummary,
  newProfiles,
  originOf,
  profiledThread,
  summarizeCpuProfile,
  type CpuProfile,
} from "@/scripts/bench/cpu-profile";

const dist = "file:///srv/app/.next-profile/server";
const frame = (functionName: string, url = "", lineNumber = 0) => ({ functionName, url, lineNumber });

/**
 * A server's profile in miniature: it loads a module at start (before any request), then serves a
 * route whose handler calls into a package and a chunk of the app, with V8's collector and idle
 * time between. Each sample lasts until the next one (the last lasts nothing).
 */
function serverProfile(): CpuProfile {
  const nodes: CpuProfile["nodes"] = [
    { id: 1, callFrame: frame("(root)"), children: [2, 3, 6, 7, 8] },
    { id: 2, callFrame: frame("wrapSafe", "node:internal/modules/cjs/loader", 1420) },
    { id: 3, callFrame: frame("handler", `${dist}/app/api/tdk/v1/call/route.js`, 794), children: [4, 5] },
    { id: 4, callFrame: frame("sendTransaction", "file:///srv/app/node_modules/litesvm/dist/index.js", 326) },
    { id: 5, callFrame: frame("runPaidCall", `${dist}/chunks/5831.js`, 3277) },
    { id: 6, callFrame: frame("(garbage collector)") },
    { id: 7, callFrame: frame("(idle)") },
    { id: 8, callFrame: frame("postMessage") },
  ];
  //              start-up   handler  litesvm  runPaidCall  GC   litesvm  idle  postMessage  (end)
  const samples = [2, 2, 3, 4, 5, 6, 4, 7, 8, 8];
  const timeDeltas = [0, 500, 500, 100, 300, 200, 100, 300, 400, 50];
  return { nodes, samples, timeDeltas };
}

describe("scripts/bench/cpu-profile.ts: where a profiled server's time went", () => {
  it("names a frame by where its code comes from", () => {
    expect(originOf(frame("(garbage collector)"))).toBe("(garbage collector)");
    expect(originOf(frame("postMessage"))).toBe("native code (Node's C++ and V8 builtins)");
    expect(originOf(frame("x", "file:///a/node_modules/@solana/web3.js/lib/index.cjs.js"))).toBe("package @solana/web3.js");
    expect(originOf(frame("x", "file:///a/node_modules/next/node_modules/zod/index.js"))).toBe("package zod");
    expect(originOf(frame("x", `${dist}/chunks/5831.js`))).toBe("app bundle chunks/5831.js");
    expect(originOf(frame("x", `${dist}/app/api/tdk/v1/call/route.js`))).toBe("app bundle app/api/tdk/v1/call");
    expect(originOf(frame("x", "wasm://wasm/022c915e"))).toBe("WebAssembly (PGlite's PostgreSQL)");
    expect(originOf(frame("x", "node:internal/async_hooks"))).toBe("node:internal/async_hooks");
  });

  it("sums each sample's time from the first request on, by origin and by function, leaving the start-up out", () => {
    const summary = summarizeCpuProfile(serverProfile());
    // From the handler's first sample (index 2): 100 + 300 + 200 + 100 + 300 + 400 + 50 + 0 µs;
    // the two start-up samples before it (1,000 µs) are left out.
    expect(summary.servedRequests).toBe(true);
    expect(summary.windowMs).toBeCloseTo(1.45, 6);
    const origins = Object.fromEntries(summary.byOrigin.map((entry) => [entry.name, entry.ms]));
    expect(origins).toEqual({
      "package litesvm": 0.6,
      "native code (Node's C++ and V8 builtins)": 0.05,
      "app bundle app/api/tdk/v1/call": 0.1,
      "app bundle chunks/5831.js": 0.2,
      "(garbage collector)": 0.1,
      "(idle)": 0.4,
    });
    expect(origins).not.toHaveProperty("node:internal/modules/cjs/loader");
    expect(summary.byOrigin[0]).toEqual({ name: "package litesvm", ms: 0.6, share: 600 / 1450 });
    expect(summary.byFunction.map((entry) => entry.name)).toEqual([
      "sendTransaction litesvm:327",
      "(idle)",
      "runPaidCall chunks/5831.js:3278",
      "handler app/api/tdk/v1/call:795",
      "(garbage collector)",
      "postMessage (native)",
    ]);
    const shares = summary.byOrigin.reduce((sum, entry) => sum + entry.share, 0);
    expect(shares).toBeCloseTo(1, 9);
  });

  it("takes a thread that ran no route handler (PGlite's worker) whole, and says so", () => {
    const profile = serverProfile();
    profile.nodes[2]!.callFrame.url = "file:///srv/app/lib/db/pglite-worker.mjs";
    const summary = summarizeCpuProfile(profile);
    expect(summary.servedRequests).toBe(false);
    expect(summary.windowMs).toBeCloseTo(2.45, 6);
    expect(formatProfileSummary(summary)[0]).toBe(
      "2 ms of samples (no route handler ran on this thread: the whole profile); self time, by origin:",
    );
  });

  it("finds the profiles a run added to the folder, by process, each one's main thread first", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "tdk-cpu-profile-"));
    try {
      await writeFile(path.join(dir, "CPU.20261207.084052.5218.0.001.cpuprofile"), "{}");
      const before = new Set(["CPU.20261207.084052.5218.0.001.cpuprofile"]);
      await writeFile(path.join(dir, "CPU.20261207.090000.6000.1.002.cpuprofile"), "{}");
      await writeFile(path.join(dir, "CPU.20261207.090001.5999.0.001.cpuprofile"), "{}");
      await writeFile(path.join(dir, "CPU.20261207.090000.6000.0.001.cpuprofile"), "{}");
      await writeFile(path.join(dir, "notes.txt"), "");
      const found = await newProfiles(dir, before);
      expect(found.map((file) => path.basename(file))).toEqual([
        "CPU.20261207.090001.5999.0.001.cpuprofile",
        "CPU.20261207.090000.6000.0.001.cpuprofile",
        "CPU.20261207.090000.6000.1.002.cpuprofile",
      ]);
      expect(found.map(profiledThread)).toEqual([
        { pid: 5999, thread: 0 },
        { pid: 6000, thread: 0 },
        { pid: 6000, thread: 1 },
      ]);
      expect(await newProfiles(path.join(dir, "missing"), new Set())).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
