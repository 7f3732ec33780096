import { PGlite } from "@electric-sql/pglite";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { queryInOneExchange } from "@/lib/db/pglite-query.mjs";
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
    const exchanges = vi.spyOn(pg, "execProtocolStream");
    try {
      await queryInOneExchange(pg, "select * from t where id = $1 and note = $2", ["1", "uno"]);
      expect(exchanges).toHaveBeenCalledTimes(1);
      exchanges.mockClear();
      await pg.query("select * from t where id = $1 and note = $2", ["1", "uno"]);
      expect(exchanges).toHaveBeenCalledTimes(6);

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
    }
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
