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
import { messages as backend, parse, protocol, types } from "@electric-sql/pglite";

const { serialize, Parser } = protocol;

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

/** Describe the portal, Execute it, Sync: the same bytes for every query. */
const DESCRIBE_EXECUTE_SYNC = Buffer.concat([serialize.describe({ type: "P" }), serialize.execute({}), serialize.sync()]);

/**
 * A Bind of the unnamed portal to `statement`, every parameter text or null and every result column
 * text: byte for byte what `serialize.bind` writes for such values (tests/db/pglite-query.test.ts
 * compares them), written straight into one buffer. PGlite's serializer grows and copies buffers
 * through a general-purpose writer: 20.6–23.9 µs a Bind of a paid call's reservation (11
 * parameters) beside 1.8–3.2 µs here (100,000 each, 3 rounds, issue 11).
 */
export function bindText(statement, values) {
  const lengths = values.map((value) => (value === null ? -1 : Buffer.byteLength(value)));
  let size = 1 + 4 + 1 + Buffer.byteLength(statement) + 1 + 2 + 2 * values.length + 2 + 2;
  for (const length of lengths) size += 4 + Math.max(length, 0);
  const out = Buffer.allocUnsafe(size);
  let at = out.writeUInt8(0x42 /* B */, 0);
  at = out.writeInt32BE(size - 1, at);
  at = out.writeUInt8(0, at); // the unnamed portal
  at += out.write(statement, at);
  at = out.writeUInt8(0, at);
  at = out.writeUInt16BE(values.length, at);
  for (let i = 0; i < values.length; i += 1) at = out.writeInt16BE(0, at); // each parameter as text
  at = out.writeUInt16BE(values.length, at);
  for (let i = 0; i < values.length; i += 1) {
    at = out.writeInt32BE(lengths[i], at); // -1: null
    if (lengths[i] > 0) at += out.write(values[i], at);
  }
  out.writeInt16BE(0, at); // no result formats: every column as text
  return out;
}

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
        bindText(name, params),
        DESCRIBE_EXECUTE_SYNC,
      ]);
      try {
        // No file system sync: PGlite does one after each query outside a transaction, and both of
        // the file systems the gateway uses (NodeFS on a directory, memory) have nothing to sync.
        const chunks = [];
        await pg.execProtocolRawStream(message, { syncToFs: false, onRawData: (bytes) => chunks.push(Buffer.from(bytes)) });
        // Throws Postgres's error, once Sync has ended the exchange (the backend is idle again).
        const answer = readAnswer(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks), pg.parsers);
        if (preparing) statements.names.set(text, name);
        return answer;
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

/**
 * An exchange's answer from the bytes Postgres wrote: what `parse.parseResults` makes of PGlite's
 * parsed messages, read straight from the bytes when they are the usual ones (ParseComplete,
 * BindComplete, RowDescription or NoData, text DataRows, one CommandComplete, ReadyForQuery), and
 * through PGlite's own protocol parser otherwise (an error, a notice, anything else). PGlite's
 * `execProtocolStream` made a message object of each and ran every one through its handlers: for a
 * SQL function's one-row answer, more time than the rest of the exchange in JavaScript (issue 11;
 * PGlite 0.5.17 in scratch, 5,000 prepared calls of a plpgsql function answering 363 bytes of jsonb,
 * 6 alternations: 79.1–85.3 µs a query before, 46.7–61.9 µs with this). The gateway does not LISTEN,
 * so a notification is not handed to PGlite's listeners (none are registered).
 */
function readAnswer(bytes, parsers) {
  const plain = readPlainAnswer(bytes, parsers);
  if (plain) return plain;
  const messages = [];
  new Parser().parse(bytes, (message) => messages.push(message));
  // PGlite throws the first error of an exchange; a notice it only logs when debugging.
  const error = messages.find((message) => message instanceof backend.DatabaseError);
  if (error) throw error;
  return parse.parseResults(messages, parsers)[0];
}

/** `readAnswer`'s usual case, or null for PGlite's parser to read. */
function readPlainAnswer(bytes, parsers) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // A NUL-terminated string that ends inside its message (`limit`), or null.
  const cString = (from, limit) => {
    const end = bytes.indexOf(0, from);
    return end < 0 || end >= limit ? null : { text: bytes.toString("utf8", from, end), next: end + 1 };
  };
  let fields = [];
  const rows = [];
  let tag = null;
  let at = 0;
  while (at < bytes.length) {
    if (at + 5 > bytes.length) return null;
    const type = bytes[at];
    const end = at + 1 + view.getInt32(at + 1);
    if (end > bytes.length) return null;
    let cursor = at + 5;
    if (type === 0x31 /* 1 ParseComplete */ || type === 0x32 /* 2 BindComplete */ || type === 0x6e /* n NoData */) {
      // nothing to read
    } else if (type === 0x54 /* T RowDescription */) {
      const count = view.getInt16(cursor);
      cursor += 2;
      fields = [];
      for (let i = 0; i < count; i += 1) {
        const name = cString(cursor, end);
        if (!name || name.next + 18 > end) return null;
        cursor = name.next;
        const dataTypeID = view.getInt32(cursor + 6);
        if (view.getInt16(cursor + 16) !== 0) return null; // binary format: PGlite's parser
        fields.push({ name: name.text, dataTypeID });
        cursor += 18;
      }
    } else if (type === 0x44 /* D DataRow */) {
      const count = view.getInt16(cursor);
      if (count !== fields.length) return null;
      cursor += 2;
      const row = {};
      for (let i = 0; i < count; i += 1) {
        const length = view.getInt32(cursor);
        cursor += 4;
        const text = length < 0 ? null : bytes.toString("utf8", cursor, cursor + length);
        if (length > 0) cursor += length;
        row[fields[i].name] = types.parseType(text, fields[i].dataTypeID, parsers);
      }
      rows.push(row);
    } else if (type === 0x43 /* C CommandComplete */) {
      if (tag !== null) return null;
      tag = cString(cursor, end)?.text ?? null;
      if (tag === null) return null;
    } else if (type === 0x5a /* Z ReadyForQuery */) {
      if (end !== bytes.length) return null;
    } else {
      return null;
    }
    at = end;
  }
  if (tag === null) return null;
  // As parseResults reads a command tag: "SELECT 2", "UPDATE 3", "INSERT 0 5" end in their count.
  const parts = tag.split(" ");
  const command = parts[0];
  const rowCount = parseInt(parts[parts.length - 1], 10);
  const affectedRows = ["INSERT", "UPDATE", "DELETE", "COPY", "MERGE"].includes(command) ? rowCount : 0;
  const answer = { rows, fields, command, affectedRows };
  if (!Number.isNaN(rowCount)) answer.rowCount = rowCount;
  return answer;
}
