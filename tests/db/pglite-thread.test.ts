import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PGliteThread } from "@/lib/db/pglite-thread";

/**
 * The embedded database on a thread of its own (PGLITE_THREAD=worker, the server's default): the
 * same answers as an in-thread PGlite, nothing slipping into a transaction, and a thread that never
 * keeps a finished process alive. The SQL functions themselves run on it in tests/db/contract.test.ts.
 */
let pg: PGliteThread;
beforeAll(async () => {
  pg = await PGliteThread.start(null);
  await pg.exec("create table t (id int primary key, note text)");
});
afterAll(async () => {
  await pg.close();
});

describe("PGlite on its own thread", () => {
  it("answers rows with their types, and Postgres errors with their fields", async () => {
    const { rows } = await pg.query<{ n: number; at: Date; doc: unknown; text: string }>(
      "select 1::int as n, '2026-11-28T00:00:00Z'::timestamptz as at, '{\"a\":[1,2]}'::jsonb as doc, $1::text as text",
      ["sent"],
    );
    expect(rows).toEqual([{ n: 1, at: new Date("2026-11-28T00:00:00Z"), doc: { a: [1, 2] }, text: "sent" }]);

    await pg.query("insert into t values (1, 'one')");
    await expect(pg.query("insert into t values (1, 'again')")).rejects.toMatchObject({ code: "23505", constraint: "t_pkey" });
    await expect(pg.query("select * from missing")).rejects.toMatchObject({ code: "42P01", message: expect.stringContaining("missing") });
    // An error leaves the thread answering.
    expect((await pg.query("select count(*)::int as n from t")).rows).toEqual([{ n: 1 }]);
  });

  it("holds every other query until a transaction ends, and rolls back one that throws", async () => {
    let outside: Promise<unknown> | null = null;
    const seen: string[] = [];
    await pg.transaction(async (tx) => {
      await tx.query("insert into t values (2, 'two')");
      // Issued mid-transaction from elsewhere: it must neither run inside it nor before its commit.
      outside = pg.query("select count(*)::int as n from t").then((result) => {
        seen.push("outside");
        return result.rows;
      });
      await new Promise((resolve) => setTimeout(resolve, 50));
      await tx.query("insert into t values (3, 'three')");
      seen.push("commit");
    });
    expect(await outside).toEqual([{ n: 3 }]);
    expect(seen).toEqual(["commit", "outside"]);

    await expect(
      pg.transaction(async (tx) => {
        await tx.query("insert into t values (4, 'four')");
        throw new Error("changed my mind");
      }),
    ).rejects.toThrow("changed my mind");
    expect((await pg.query("select id from t order by id")).rows).toEqual([{ id: 1 }, { id: 2 }, { id: 3 }]);
  });

  it("does not keep a process alive once its work is done, and keeps it alive while work is in flight", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "tdk-thread-"));
    try {
      const script = path.join(dir, "idle.mts");
      // A query started and never awaited by anything but its own callback, and no close(): the
      // process must wait for the answer (work in flight) and then exit by itself.
      await writeFile(
        script,
        `import { PGliteThread } from ${JSON.stringify(path.resolve("lib/db/pglite-thread.ts"))};
         const pg = await PGliteThread.start(null);
         setTimeout(() => pg.query("select 42 as answer").then(({ rows }) => console.log(JSON.stringify(rows))), 10);`,
      );
      const child = spawn(process.execPath, ["--import", "tsx", script], { cwd: process.cwd(), stdio: ["ignore", "pipe", "pipe"] });
      let output = "";
      child.stdout.on("data", (chunk) => (output += chunk));
      child.stderr.on("data", (chunk) => (output += chunk));
      const code = await new Promise<number | null>((resolve, reject) => {
        const timer = setTimeout(() => {
          child.kill("SIGKILL");
          reject(new Error(`the process did not exit by itself: ${output}`));
        }, 60_000);
        child.once("exit", (exitCode) => {
          clearTimeout(timer);
          resolve(exitCode);
        });
      });
      expect(code, output).toBe(0);
      expect(output.trim()).toBe('[{"answer":42}]');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 90_000);
});
