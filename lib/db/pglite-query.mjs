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
 * Statements prepared by name, per PGlite: its SQL text → the statement's name. Without them each
 * `select fn(p_a => $1, ...)` is parsed, analysed and planned again on every call (scratch replay of
 * the paid call's four functions, PGlite 0.5.17, the last 1,000 of 4,000 calls, two alternations, µs
 * a call unprepared → prepared: verify 321–457 → 146–166, begin 770–1,178 → 631–696, record
 * 384–532 → 284–311, settle 625–925 → 510–585). Over HTTP (`npm run bench` section 9, 3
 * alternations of 2 rounds, least of each) the database thread's CPU went from 2.37 to 2.04 ms a
 * paid call and from 1.71 to 0.91 ms a key-auth request. Postgres keeps a prepared statement's plan
 * up to date itself: a function replaced, dropped or re-created makes it plan the statement again at
 * its next use.
 */
const preparedByPg = new WeakMap();

/**
 * At most this many statements are prepared on one PGlite; texts beyond it go unnamed. The gateway's
 * texts are one per function and argument names (`buildFunctionCall`), far fewer: the cap only
 * bounds a session's memory should a caller ever send texts without end.
 */
export const MAX_PREPARED_STATEMENTS = 500;

/**
 * `pg.query(text, params)`'s answer (rows parsed by PGlite's own parsers, `affectedRows`, `fields`)
 * and its errors (Postgres's fields: code, detail, constraint...). A parameter that is not text or
 * null would need its declared type to be written: such a query goes PGlite's own way.
 *
 * `prepared`: the text is parsed once, as a named statement of this PGlite's session, and each later
 * query with the same text only binds and executes it. Only for queries outside any transaction
 * (this function waits for one to end, as it always does): a named statement outlives transactions.
 */
export function queryInOneExchange(pg, text, params = [], { prepared = false } = {}) {
  if (!params.every((value) => value === null || typeof value === "string")) return pg.query(text, params);
  // The locks PGlite's `query` takes, in its order: after any transaction() and any other query.
  return pg._runExclusiveTransaction(() =>
    pg.runExclusive(async () => {
      // Read and updated under the locks: two first queries of one text cannot both prepare it.
      let statements = preparedByPg.get(pg);
      if (prepared && !statements) preparedByPg.set(pg, (statements = { names: new Map(), made: 0 }));
      const known = prepared ? statements.names.get(text) : undefined;
      const preparing = prepared && known === undefined && statements.names.size < MAX_PREPARED_STATEMENTS;
      const name = known ?? (preparing ? `tdk_prepared_${++statements.made}` : "");
      const message = Buffer.concat([
        ...(known === undefined ? [serialize.parse({ name, text })] : []),
        serialize.bind({ statement: name, values: params }),
        serialize.describe({ type: "P" }),
        serialize.execute({}),
        serialize.sync(),
      ]);
      try {
        // Throws Postgres's error, once Sync has ended the exchange (the backend is idle again).
        // No file system sync: PGlite does one after each query outside a transaction, and both of
        // the file systems the gateway uses (NodeFS on a directory, memory) have nothing to sync.
        const messages = await pg.execProtocolStream(message, { syncToFs: false });
        if (preparing) statements.names.set(text, name);
        return parse.parseResults(messages, pg.parsers)[0];
      } catch (error) {
        // After an error the statement is closed and forgotten, and the text prepared again at its
        // next query: a first Parse may have succeeded before Bind or Execute failed (no statement
        // is left that nothing knows), and a known one may fail for good where a new one would not
        // ("cached plan must not change result type", after a function's answer changed). Closing a
        // statement that does not exist is no error.
        if (name) {
          statements.names.delete(text);
          await pg.execProtocolStream(Buffer.concat([serialize.close({ type: "S", name }), serialize.sync()]), { syncToFs: false });
        }
        throw error;
      }
    }),
  );
}
