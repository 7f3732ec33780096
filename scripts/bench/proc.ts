import { readFile } from "node:fs/promises";

/** CPU seconds a process has used so far, all its threads (user + system), from /proc. */
export async function cpuSeconds(pid: number): Promise<number> {
  const fields = (await readFile(`/proc/${pid}/stat`, "utf8")).split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (100/s)
}

/** A process's resident set size in MB, from /proc. */
export async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

/** CPU seconds by kind of thread: the JavaScript thread, worker threads (PGlite's), V8's helpers (GC, compiler), the rest. */
export interface ThreadCpu {
  request: number;
  workers: number;
  v8: number;
  other: number;
}

/**
 * A process's CPU seconds so far, by thread, from /proc/<pid>/task. A worker thread carries its
 * process's name (Next.js names its server "next-server …"), V8's platform threads are "node", libuv's
 * pool "libuv-worker"; threads that ended are no longer listed (their time is then in none).
 */
export async function cpuSecondsByThread(pid: number): Promise<ThreadCpu> {
  const { readdir } = await import("node:fs/promises");
  const own = (await readFile(`/proc/${pid}/comm`, "utf8")).trim();
  const totals: ThreadCpu = { request: 0, workers: 0, v8: 0, other: 0 };
  for (const tid of await readdir(`/proc/${pid}/task`)) {
    const [comm, stat] = await Promise.all([
      readFile(`/proc/${pid}/task/${tid}/comm`, "utf8").catch(() => null),
      readFile(`/proc/${pid}/task/${tid}/stat`, "utf8").catch(() => null),
    ]);
    if (comm === null || stat === null) continue;
    const fields = stat.split(") ")[1]!.split(" ");
    const seconds = (Number(fields[11]) + Number(fields[12])) / 100;
    const name = comm.trim();
    const kind: keyof ThreadCpu = Number(tid) === pid ? "request" : name === own ? "workers" : name === "node" ? "v8" : "other";
    totals[kind] += seconds;
  }
  return totals;
}
