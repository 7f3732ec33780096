import { readdir, readFile } from "node:fs/promises";

/** The CPU seconds (user + system) a /proc `stat` line holds, for a process or one of its threads. */
function statCpuSeconds(stat: string): number {
  // After the name in parentheses: utime and stime are fields 14 and 15, in clock ticks (100 a second).
  const fields = stat.split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** CPU seconds a process has used so far, all its threads, ended ones included, from /proc. */
export async function cpuSeconds(pid: number): Promise<number> {
  return statCpuSeconds(await readFile(`/proc/${pid}/stat`, "utf8"));
}

/**
 * The machine's CPU seconds so far, every CPU together, from /proc/stat's first line: busy (user,
 * nice, system, interrupts), idle (iowait included), and steal (time the hypervisor gave another
 * guest: a noisy neighbour, not our work).
 */
export async function machineCpuSeconds(): Promise<{ busy: number; idle: number; steal: number }> {
  const line = (await readFile("/proc/stat", "utf8")).split("\n", 1)[0]!;
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1, 9).map(Number) as number[];
  // In clock ticks, 100 a second; guest time is already counted in user.
  return { busy: (user! + nice! + system! + irq! + softirq!) / 100, idle: (idle! + iowait!) / 100, steal: steal! / 100 };
}

/**
 * A process's main (request) thread's seconds so far on a CPU and waiting for one (runnable, but
 * queued behind other threads), from /proc/<pid>/task/<pid>/schedstat (nanoseconds); null where the
 * kernel keeps no such file. A thread that is neither is asleep: its event loop had nothing to do.
 */
export async function schedSeconds(pid: number): Promise<{ running: number; waiting: number } | null> {
  const text = await readFile(`/proc/${pid}/task/${pid}/schedstat`, "utf8").catch(() => null);
  if (text === null) return null;
  const [running, waiting] = text.trim().split(/\s+/).map(Number) as [number, number];
  return { running: running / 1e9, waiting: waiting / 1e9 };
}

/**
 * CPU seconds so far of each PostgreSQL process on this machine (`postgres`: the postmaster, its
 * backends and helpers), by pid, from /proc: on the PostgreSQL shapes, what the database's own side
 * of a call costs the machine.
 */
export async function postgresCpuSeconds(): Promise<Map<number, number>> {
  const byPid = new Map<number, number>();
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    // The process's name is in its stat line, in parentheses after its pid: one read a process.
    const stat = await readFile(`/proc/${entry}/stat`, "utf8").catch(() => null);
    if (stat?.startsWith(`${entry} (postgres) `)) byPid.set(Number(entry), statCpuSeconds(stat));
  }
  return byPid;
}

/**
 * The PostgreSQL processes' CPU seconds between two readings: a process started in between counts
 * whole; one that ended in between (an idle pool connection closed) takes its time with it, so this
 * errs low, never negative.
 */
export function postgresCpuBetween(before: Map<number, number>, after: Map<number, number>): number {
  let total = 0;
  for (const [pid, seconds] of after) total += seconds - (before.get(pid) ?? 0);
  return total;
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
  const own = (await readFile(`/proc/${pid}/comm`, "utf8")).trim();
  const totals: ThreadCpu = { request: 0, workers: 0, v8: 0, other: 0 };
  for (const tid of await readdir(`/proc/${pid}/task`)) {
    const [comm, stat] = await Promise.all([
      readFile(`/proc/${pid}/task/${tid}/comm`, "utf8").catch(() => null),
      readFile(`/proc/${pid}/task/${tid}/stat`, "utf8").catch(() => null),
    ]);
    if (comm === null || stat === null) continue;
    const seconds = statCpuSeconds(stat);
    const name = comm.trim();
    const kind: keyof ThreadCpu = Number(tid) === pid ? "request" : name === own ? "workers" : name === "node" ? "v8" : "other";
    totals[kind] += seconds;
  }
  return totals;
}
