/**
 * A V8 CPU profile (`node --cpu-prof`, what BENCH_PROFILE writes) read back into where a thread's
 * time went while it served requests: by origin (a package, a Node module, the app's own bundle,
 * V8's garbage collector, idle) and by function, each as milliseconds and a share of the window.
 * Section 9 prints it for every profile its server writes; `npx tsx scripts/bench/cpu-profile.ts
 * <file.cpuprofile>` prints it for one. The window starts at the first sample taken inside a route
 * handler's bundle, so the server's start (loading modules, opening its database) is left out.
 */
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";

export interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }[];
  samples: number[];
  /** Microseconds before each sample: sample i lasts until sample i + 1 (as Chrome's devtools read it). */
  timeDeltas: number[];
}

export interface ProfileEntry {
  name: string;
  ms: number;
  /** Of the window's time. */
  share: number;
}

export interface ProfileSummary {
  windowMs: number;
  /** Whether a route handler ran on this thread: when not (a worker's), the window is the whole profile. */
  servedRequests: boolean;
  byOrigin: ProfileEntry[];
  byFunction: ProfileEntry[];
}

type CallFrame = CpuProfile["nodes"][number]["callFrame"];

/** V8's own pseudo-frames: time it spent in no JavaScript function. */
const V8_STATES = new Set(["(idle)", "(program)", "(garbage collector)", "(root)"]);

/** A route handler's bundle in a Next.js build (`server/app/` under `.next` or the bench's dist folder): the window opens at its first sample. */
const isRouteBundle = (url: string) => /\/\.next[^/]*\/server\/app\//.test(url);

/** Where a frame's code comes from: one line of the origin table. */
export function originOf(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (url === "") return V8_STATES.has(functionName) ? functionName : "native code (Node's C++ and V8 builtins)";
  if (url.startsWith("wasm://")) return "WebAssembly (PGlite's PostgreSQL)";
  if (url.startsWith("node:")) return url;
  const inPackage = url.lastIndexOf("/node_modules/");
  if (inPackage >= 0) {
    const [scope = "", name = ""] = url.slice(inPackage + "/node_modules/".length).split("/");
    return `package ${scope.startsWith("@") ? `${scope}/${name}` : scope}`;
  }
  const bundle = /\/\.next[^/]*\/server\/(.*)$/.exec(url);
  // Webpack's chunks hold the app's code and the packages it bundled (zod, web3.js, pino) together.
  if (bundle) return `app bundle ${bundle[1]!.startsWith("chunks/") ? bundle[1] : path.dirname(bundle[1]!)}`;
  return url.replace(/^file:\/\//, "");
}

function functionOf(frame: CallFrame): string {
  if (frame.url === "") return V8_STATES.has(frame.functionName) ? frame.functionName : `${frame.functionName} (native)`;
  return `${frame.functionName || "(anonymous)"} ${originOf(frame).replace(/^(package|app bundle) /, "")}:${frame.lineNumber + 1}`;
}

export function summarizeCpuProfile(profile: CpuProfile): ProfileSummary {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parentOf = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
  const inRouteBundle = (id: number) => {
    for (let at: number | undefined = id; at !== undefined; at = parentOf.get(at))
      if (isRouteBundle(byId.get(at)!.callFrame.url)) return true;
    return false;
  };
  const first = profile.samples.findIndex(inRouteBundle);
  const start = Math.max(first, 0);
  // Self time by node first (a profile has far more samples than nodes), then by origin and function.
  const selfUs = new Map<number, number>();
  let windowUs = 0;
  for (let i = start; i < profile.samples.length; i += 1) {
    const us = profile.timeDeltas[i + 1] ?? 0;
    windowUs += us;
    selfUs.set(profile.samples[i]!, (selfUs.get(profile.samples[i]!) ?? 0) + us);
  }
  const origins = new Map<string, number>();
  const functions = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)!.callFrame;
    origins.set(originOf(frame), (origins.get(originOf(frame)) ?? 0) + us);
    functions.set(functionOf(frame), (functions.get(functionOf(frame)) ?? 0) + us);
  }
  const entries = (totals: Map<string, number>) =>
    [...totals].map(([name, us]) => ({ name, ms: us / 1000, share: windowUs > 0 ? us / windowUs : 0 })).sort((a, b) => b.ms - a.ms);
  return { windowMs: windowUs / 1000, servedRequests: first >= 0, byOrigin: entries(origins), byFunction: entries(functions) };
}

export function formatProfileSummary(summary: ProfileSummary, top = { origins: 15, functions: 20 }): string[] {
  const row = (entry: ProfileEntry) =>
    `${(entry.share * 100).toFixed(1).padStart(6)}% ${entry.ms.toFixed(0).padStart(7)} ms  ${entry.name}`;
  return [
    `${summary.windowMs.toFixed(0)} ms of samples ${summary.servedRequests ? "from its first request on" : "(no route handler ran on this thread: the whole profile)"}; self time, by origin:`,
    ...summary.byOrigin.slice(0, top.origins).map(row),
    "by function:",
    ...summary.byFunction.slice(0, top.functions).map(row),
  ];
}

/** The process and thread a profile is of, from the name V8 gives it: `CPU.<date>.<time>.<pid>.<thread>.<n>.cpuprofile`. */
export function profiledThread(file: string): { pid: number; thread: number } {
  const [, , , pid = "0", thread = "0"] = path.basename(file).split(".");
  return { pid: Number(pid), thread: Number(thread) };
}

/** The profiles a run left in `dir` that are not in `before`, by process, each one's main thread first. */
export async function newProfiles(dir: string, before: Set<string>): Promise<string[]> {
  return (await readdir(dir).catch(() => [] as string[]))
    .filter((file) => file.endsWith(".cpuprofile") && !before.has(file))
    .map((file) => ({ file, ...profiledThread(file) }))
    .sort((a, b) => a.pid - b.pid || a.thread - b.thread)
    .map(({ file }) => path.join(dir, file));
}

export async function readCpuProfile(file: string): Promise<CpuProfile> {
  return JSON.parse(await readFile(file, "utf8")) as CpuProfile;
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(__filename)) {
  const file = process.argv[2];
  if (!file) {
    console.error("usage: npx tsx scripts/bench/cpu-profile.ts <file.cpuprofile>");
    process.exit(2);
  }
  void readCpuProfile(file).then((profile) => console.log(formatProfileSummary(summarizeCpuProfile(profile)).join("\n")));
}
