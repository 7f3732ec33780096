import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { PGlite, protocol } from "@electric-sql/pglite";
import { MAX_PREPARED_STATEMENTS, bindText, queryInOneExchange } from "@/lib/db/pglite-query.mjs";
import { toSqlText } from "@/lib/db/types";

/**
 * The embedded database's queries in one exchange (lib/db/pglite-query.mjs): the answers and the
 * errors of PGlite's own `query`, in one call into Postgres instead of six. The gateway's SQL
 * functions run through it on both threads in tests/db/contract.test.ts.
 */
let pg: PGlite;
beforeAll(async () => {
  pg = await PGlite.create();
  await pg.exec(`
    create table t (id int primary key, note text, at timestamptz, doc jsonb, flag boolean, amount bigint);
    create function echo(p_id int, p_at timestamptz, p_doc jsonb, p_flag boolean, p_amount bigint, p_note text) returns jsonb
      language sql as $$ select jsonb_build_object('id', p_id, 'at', p_at, 'doc', p_doc, 'flag', p_flag, 'amount', p_amount::text, 'note', p_note) $$;
  `);
});
afterAll(async () => {
  await pg.close();
});

/** What the gateway sends: every argument as text, typed by the function's signature. */
const args = (values: Parameters<typeof toSqlText>[0][]) => values.map(toSqlText);

describe("a PGlite query in one exchange", () => {
  it("answers what PGlite's query answers, for every kind of value the gateway sends", async () => {
    const cases: [string, (string | null)[]][] = [
      [
        "select echo(p_id => $1, p_at => $2, p_doc => $3, p_flag => $4, p_amount => $5, p_note => $6) as result",
        args([7, new Date("2026-11-28T12:00:00Z"), { a: [1, "two"], nested: { ok: true } }, true, 9007199254740993n, "it's"]),
      ],
      [
        "select echo(p_id => $1, p_at => $2, p_doc => $3, p_flag => $4, p_amount => $5, p_note => $6) as result",
        args([null, null, null, false, null, null]),
      ],
      [
        "select 1::int as n, 9007199254740993::bigint as big, 2::bigint as small, now() - now() as zero, 'x'::text as s, null::text as nothing, '{\"k\":1}'::jsonb as doc, '2026-11-28T00:00:00Z'::timestamptz as at",
        [],
      ],
      ["insert into t (id, note, at, doc, flag, amount) values ($1, $2, $3, $4, $5, $6)", args([1, "one", new Date(0), [1, 2], true, 5n])],
      ["update t set note = $2 where id = $1 or id = $1::int + 100", args([1, "uno"])],
      ["select * from t where id = $1", args([1])],
      ["select * from t where id = $1", args([404])],
      ["delete from t where id = $1", args([404])],
    ];
    for (const [text, params] of cases) {
      // The writes run once each way: the second insert must fail on the first's row, like PGlite's.
      const ours = await queryInOneExchange(pg, text, params).catch((error: Error) => ({ failed: error.message }));
      const theirs = await pg.query(text, params).catch((error: Error) => ({ failed: error.message }));
      if (text.startsWith("insert")) {
        expect(ours).toMatchObject({ affectedRows: 1, rows: [] });
        expect(theirs).toMatchObject({ failed: expect.stringContaining("duplicate key") });
      } else {
        expect(ours, text).toEqual(theirs);
      }
    }
    expect((await queryInOneExchange(pg, "select * from t where id = $1", ["1"])).rows).toEqual([
      { id: 1, note: "uno", at: new Date(0), doc: [1, 2], flag: true, amount: 5 },
    ]);
  });

  it("answers Postgres's errors with their fields, and leaves the connection ready", async () => {
    await expect(queryInOneExchange(pg, "insert into t (id) values ($1)", ["1"])).rejects.toMatchObject({
      code: "23505",
      constraint: "t_pkey",
      detail: "Key (id)=(1) already exists.",
    });
    await expect(queryInOneExchange(pg, "select * from missing where id = $1", ["1"])).rejects.toMatchObject({ code: "42P01" });
    await expect(queryInOneExchange(pg, "select $1::int", ["not a number"])).rejects.toMatchObject({ code: "22P02" });
    expect((await queryInOneExchange(pg, "select count(*)::int as n from t", [])).rows).toEqual([{ n: 1 }]);

    // Inside an explicit transaction an error aborts it until rollback, as with any client.
    await queryInOneExchange(pg, "begin", []);
    await queryInOneExchange(pg, "insert into t (id) values ($1)", ["2"]);
    await expect(queryInOneExchange(pg, "insert into t (id) values ($1)", ["2"])).rejects.toMatchObject({ code: "23505" });
    await expect(queryInOneExchange(pg, "select 1", [])).rejects.toMatchObject({ code: "25P02" });
    await queryInOneExchange(pg, "rollback", []);
    expect((await queryInOneExchange(pg, "select id from t order by id", [])).rows).toEqual([{ id: 1 }]);
  });

  it("makes one call into Postgres where PGlite's query makes six; a parameter that is not text goes PGlite's way", async () => {
    // Ours reads the exchange's raw bytes (execProtocolRawStream); PGlite's query parses each message (execProtocolStream).
    const raw = vi.spyOn(pg, "execProtocolRawStream");
    const exchanges = vi.spyOn(pg, "execProtocolStream");
    try {
      await queryInOneExchange(pg, "select * from t where id = $1 and note = $2", ["1", "uno"]);
      expect(raw).toHaveBeenCalledTimes(1);
      expect(exchanges).toHaveBeenCalledTimes(0);
      raw.mockClear();
      await pg.query("select * from t where id = $1 and note = $2", ["1", "uno"]);
      expect(exchanges).toHaveBeenCalledTimes(6);
      expect(raw).toHaveBeenCalledTimes(0);

      // A number, a Date, an array: their text depends on the declared type, which only Describe tells.
      for (const [text, params] of [
        ["select $1::int + 1 as n", [41]],
        ["select $1::timestamptz as at", [new Date("2026-11-28T00:00:00Z")]],
        [
          "select $1::int[] as xs, $2::jsonb as doc",
          [
            [1, 2],
            [1, 2],
          ],
        ],
      ] as [string, unknown[]][]) {
        exchanges.mockClear();
        expect(await queryInOneExchange(pg, text, params)).toEqual(await pg.query(text, params));
        expect(exchanges.mock.calls.length, text).toBeGreaterThan(1);
      }
    } finally {
      exchanges.mockRestore();
      raw.mockRestore();
    }
  });

  it("binds parameters in the very bytes PGlite's serializer writes", () => {
    const cases: [string, (string | null)[]][] = [
      ["", []],
      ["tdk_prepared_1", ["7c4e6b8e-0d1f-4a55-9a43-0f3c1d9a3b21"]],
      ["tdk_prepared_12", [null, "", "0", "Téxt stats 😀", '{"a":[1,"two"]}', null, "2026-12-06T16:00:00.000Z", "x".repeat(70_000)]],
    ];
    for (const [statement, values] of cases)
      expect(Buffer.from(bindText(statement, values)).equals(Buffer.from(protocol.serialize.bind({ statement, values })))).toBe(true);
  });

  it("answers as PGlite's query does when the answer is not the usual few messages: notices, an answer of many chunks, no command", async () => {
    await pg.exec(`create function noisy(p_n int) returns jsonb language plpgsql as $$
      begin raise notice 'counting %', p_n; raise warning 'careful'; return jsonb_build_object('n', p_n); end $$;`);
    const cases: [string, string[]][] = [
      // Notices and a warning before the row: read by PGlite's parser, and dropped as PGlite's query drops them.
      ["select noisy(p_n => $1) as result", ["3"]],
      // Half a megabyte of answer: Postgres writes it in many pieces.
      ["select repeat($1, 100000) as big, $1 as small", ["xyzab"]],
      ["select jsonb_build_object('list', (select jsonb_agg(g) from generate_series(1, $1::int) g)) as result", ["20000"]],
      // Many rows, and a set-returning answer with no rows.
      ["select g as n, g::text as s from generate_series(1, $1::int) g", ["3000"]],
      ["select g as n from generate_series(1, $1::int) g where false", ["3"]],
      // Statements that answer no rows at all (NoData).
      ["set local statement_timeout = 0", []],
    ];
    for (const [text, params] of cases) {
      const ours = await queryInOneExchange(pg, text, params);
      expect(ours, text).toEqual(await pg.query(text, params));
    }
    // An empty statement: no command tag at all.
    expect(await queryInOneExchange(pg, "", [])).toEqual(await pg.query("", []));
  });

  it("waits for a transaction begun elsewhere, and never runs inside it", async () => {
    const seen: string[] = [];
    let outside: Promise<unknown> | null = null;
    await pg.transaction(async (tx) => {
      await tx.query("insert into t (id, note) values (3, 'three')");
      outside = queryInOneExchange(pg, "select count(*)::int as n from t where id = $1", ["3"]).then(({ rows }) => {
        seen.push("outside");
        return rows;
      });
      await new Promise((resolve) => setTimeout(resolve, 50));
      seen.push("commit");
    });
    expect(await outside).toEqual([{ n: 1 }]);
    expect(seen).toEqual(["commit", "outside"]);
  });
});

/**
 * `prepared`: what the gateway's SQL function calls use (PGliteDatabase.call). A text is parsed once
 * as a named statement of the session; later queries only bind and execute it.
 */
describe("a prepared PGlite query", () => {
  let db: PGlite;
  beforeAll(async () => {
    db = await PGlite.create();
    await db.exec(`
      create table ids (id uuid primary key);
      create function answer(p_n int) returns jsonb language plpgsql as $$ begin return jsonb_build_object('v', 1, 'n', p_n); end $$;
    `);
  });
  afterAll(async () => {
    await db.close();
  });

  const preparedTexts = async () =>
    (await db.query<{ statement: string }>("select statement from pg_prepared_statements order by statement")).rows.map(
      (row) => row.statement,
    );
  /** The protocol messages of each exchange, by their one-letter types: P parse, B bind, C close... */
  const messageTypes = (buffer: Uint8Array) => {
    const types: string[] = [];
    for (let at = 0; at < buffer.length; at += 1 + new DataView(buffer.buffer, buffer.byteOffset + at + 1, 4).getInt32(0))
      types.push(String.fromCharCode(buffer[at]!));
    return types.join("");
  };
  const ANSWER = "select answer(p_n => $1) as result";

  it("parses a text once; later queries bind and execute it, and answer as PGlite's query does", async () => {
    const exchanges = vi.spyOn(db, "execProtocolRawStream");
    try {
      for (const n of ["1", "2", "3"])
        expect(await queryInOneExchange(db, ANSWER, [n], { prepared: true })).toEqual(await db.query(ANSWER, [n]));
      const ours = exchanges.mock.calls.map(([message]) => messageTypes(message)).filter((types) => !types.startsWith("PSDBDES"));
      // PGlite's own query sends its six messages one by one; ours go as one buffer each.
      expect(ours.filter((types) => types.length > 1)).toEqual(["PBDES", "BDES", "BDES"]);
    } finally {
      exchanges.mockRestore();
    }
    expect(await preparedTexts()).toEqual([ANSWER]);
    // Without `prepared` nothing is kept.
    await queryInOneExchange(db, "select answer(p_n => $1) || '{}'::jsonb as result", ["4"]);
    expect(await preparedTexts()).toEqual([ANSWER]);
  });

  it("runs a function's new body after it was replaced or re-created, and prepares again once its answer's type changed", async () => {
    const call = () => queryInOneExchange(db, ANSWER, ["7"], { prepared: true }).then(({ rows }) => rows[0]!.result);
    expect(await call()).toEqual({ v: 1, n: 7 });
    await db.exec(
      "create or replace function answer(p_n int) returns jsonb language plpgsql as $$ begin return jsonb_build_object('v', 2); end $$",
    );
    expect(await call()).toEqual({ v: 2 });
    await db.exec(
      "drop function answer(int); create function answer(p_n int) returns jsonb language sql as $$ select jsonb_build_object('v', 3) $$",
    );
    expect(await call()).toEqual({ v: 3 });
    // Postgres refuses a prepared statement whose answer changed type; it is prepared again after.
    await db.exec("drop function answer(int); create function answer(p_n int) returns text language sql as $$ select 'four' $$");
    await expect(call()).rejects.toMatchObject({ code: "0A000" });
    expect(await call()).toBe("four");
    expect(await preparedTexts()).toEqual([ANSWER]);
  });

  it("leaves no statement behind a failed query, and answers the next one", async () => {
    const INSERT = "insert into ids (id) values ($1)";
    // Bind fails (not a uuid) after Parse succeeded; Parse fails (no such function); Execute fails (duplicate).
    await expect(queryInOneExchange(db, INSERT, ["not a uuid"], { prepared: true })).rejects.toMatchObject({ code: "22P02" });
    await expect(queryInOneExchange(db, "select missing(p => $1) as result", ["1"], { prepared: true })).rejects.toMatchObject({
      code: "42883",
    });
    expect(await preparedTexts()).not.toContain(INSERT);
    const id = "7c4e6b8e-0d1f-4a55-9a43-0f3c1d9a3b21";
    expect(await queryInOneExchange(db, INSERT, [id], { prepared: true })).toMatchObject({ affectedRows: 1 });
    await expect(queryInOneExchange(db, INSERT, [id], { prepared: true })).rejects.toMatchObject({ code: "23505", constraint: "ids_pkey" });
    expect(await preparedTexts()).not.toContain(INSERT);
    expect(await queryInOneExchange(db, "select count(*)::int as n from ids where id = $1", [id], { prepared: true })).toMatchObject({
      rows: [{ n: 1 }],
    });
  });

  it(`prepares at most ${MAX_PREPARED_STATEMENTS} texts on one PGlite; the others still answer, unprepared`, async () => {
    const fresh = await PGlite.create();
    try {
      for (let k = 0; k < MAX_PREPARED_STATEMENTS + 5; k += 1) {
        const { rows } = await queryInOneExchange(fresh, `select $1::int + ${k} as n`, ["1"], { prepared: true });
        expect(rows).toEqual([{ n: 1 + k }]);
      }
      const { rows } = await fresh.query<{ n: number }>("select count(*)::int as n from pg_prepared_statements");
      expect(rows).toEqual([{ n: MAX_PREPARED_STATEMENTS }]);
      expect(
        (await queryInOneExchange(fresh, `select $1::int + ${MAX_PREPARED_STATEMENTS + 1} as n`, ["1"], { prepared: true })).rows,
      ).toEqual([{ n: MAX_PREPARED_STATEMENTS + 2 }]);
    } finally {
      await fresh.close();
    }
  });
});
