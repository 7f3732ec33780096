// A parameterised query to PGlite in one exchange with its Postgres, for the embedded database's
// thread (lib/db/pglite-worker.mjs) and for PGlite on the calling thread (lib/db/pglite.ts).
//
// PGlite's own `query` makes six: Parse, Describe (to learn the parameters' types), Bind, Describe,
// Execute and Sync, each a call into its WebAssembly with its answer parsed in between. It asks the
// parameters' types only to turn JavaScript values into text. The gateway sends every parameter as
// text already (`toSqlText` in lib/db/types.ts: the type comes from the function's signature), so
// for such a query the six messages go as one and Postgres reads the same bytes. Issue 11 measured
// (PGlite 0.5.17, 5,000 queries, six alternations): a one-row plpgsql function 123.7–160.1 µs a
// query before, 71.1–95.8 µs after; a one-row update 113.7–153.2 µs before, 99.8–107.3 µs after.
// Over HTTP the embedded thread's CPU a paid call went from 2.55–3.30 ms to 2.32–2.55 ms.
//
// Plain JavaScript on purpose: the thread's file is loaded by Node as it is (see pglite-worker.mjs).
import { parse, protocol } from "@electric-sql/pglite";

const { serialize } = protocol;

/**
 * `pg.query(text, params)`'s answer (rows parsed by PGlite's own parsers, `affectedRows`, `fields`)
 * and its errors (Postgres's fields: code, detail, constraint...). A parameter that is not text or
 * null would need its declared type to be written: such a query goes PGlite's own way.
 */
export function queryInOneExchange(pg, text, params = []) {
  if (!params.every((value) => value === null || typeof value === "string")) return pg.query(text, params);
  const message = Buffer.concat([
    serialize.parse({ text }),
    serialize.bind({ values: params }),
    serialize.describe({ type: "P" }),
    serialize.execute({}),
    serialize.sync(),
  ]);
  // The locks PGlite's `query` takes, in its order: after any transaction() and any other query.
  return pg._runExclusiveTransaction(() =>
    pg.runExclusive(async () => {
      // Throws Postgres's error, once Sync has ended the exchange (the backend is idle again).
      // No file system sync: PGlite does one after each query outside a transaction, and both of
      // the file systems the gateway uses (NodeFS on a directory, memory) have nothing to sync.
      const messages = await pg.execProtocolStream(message, { syncToFs: false });
      return parse.parseResults(messages, pg.parsers)[0];
    }),
  );
}
