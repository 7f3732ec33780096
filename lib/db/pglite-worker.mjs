// The embedded database's own thread (lib/db/pglite-thread.ts starts it): one PGlite on one data
// directory, answering the main thread's messages. PGlite is WebAssembly running on the thread that
// calls it; here its work (a third of a paid call's CPU on the embedded default, by profile) runs
// beside the request thread instead of on it.
//
// Plain JavaScript on purpose: a worker runs outside every bundler and transpiler (Next.js,
// vitest, tsx), so this file is loaded by Node as it is.
//
// In:  { id, op: "query", text, params, prepared } | { id, op: "exec", text } | { id, op: "close" }
// Out: { id, result } | { id, error: { message, ...fields } }, and { ready: true } | { failed } once at start.
import { parentPort, workerData } from "node:worker_threads";
import { PGlite } from "@electric-sql/pglite";
import { queryInOneExchange } from "./pglite-query.mjs";
import { describeError } from "./describe-error.mjs";

let pg;
try {
  pg = await PGlite.create(workerData.dataDir ?? undefined);
} catch (error) {
  parentPort.postMessage({ failed: describeError(error) });
  process.exit(1);
}

parentPort.on("message", async ({ id, op, text, params, prepared }) => {
  try {
    let result = null;
    if (op === "query") {
      const answer = await queryInOneExchange(pg, text, params, { prepared });
      result = { rows: answer.rows, affectedRows: answer.affectedRows ?? 0, fields: answer.fields };
    } else if (op === "exec") {
      await pg.exec(text);
    } else if (op === "close") {
      await pg.close();
    } else {
      throw new Error(`unknown operation ${op}`);
    }
    parentPort.postMessage({ id, result });
  } catch (error) {
    parentPort.postMessage({ id, error: describeError(error) });
  }
});
parentPort.postMessage({ ready: true });
