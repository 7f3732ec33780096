// The PostgreSQL client's own thread (lib/db/postgres-thread.ts starts it): a node-postgres pool
// answering the main thread's SQL function calls. Building each query's messages, writing them to
// the socket, reading and parsing the rows and their jsonb take the request thread about 0.6 ms a
// paid call (issue 11: 2.86 ms on PostgreSQL against 2.26 ms on the embedded default, whose
// database already has a thread of its own); here that work runs beside the request thread.
//
// Plain JavaScript on purpose: a worker runs outside every bundler and transpiler (Next.js,
// vitest, tsx), so this file is loaded by Node as it is.
//
// In:  { id, text, values } | { id, op: "close" }
// Out: { id, result } (the first row's `result`, null for none) | { id, error: { message, ...fields } },
//      and { ready: true } once at start.
import { parentPort, workerData } from "node:worker_threads";
import pg from "pg";
import { describeError } from "./describe-error.mjs";

const pool = new pg.Pool({ connectionString: workerData.url, max: workerData.max });
// An idle client's network error must not end the thread; the next query reconnects.
pool.on("error", () => {});

parentPort.on("message", async ({ id, op, text, values }) => {
  try {
    if (op === "close") {
      await pool.end();
      parentPort.postMessage({ id, result: null });
      return;
    }
    const answer = await pool.query(text, values);
    parentPort.postMessage({ id, result: answer.rows[0]?.result ?? null });
  } catch (error) {
    parentPort.postMessage({ id, error: describeError(error) });
  }
});
parentPort.postMessage({ ready: true });
