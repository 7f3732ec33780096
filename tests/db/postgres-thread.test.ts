import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DatabaseError } from "@/lib/db";
import { PostgresDatabase } from "@/lib/db/postgres";
import { createTempDatabase, testDatabaseUrl } from "../helpers/postgres";

const postgresUrl = testDatabaseUrl();

/**
 * The PostgreSQL client on a thread of its own (POSTGRES_THREAD=worker, the server's default)
 * answers the gateway's SQL function calls exactly as the pool on the calling thread does: the
 * same answers, each to its own caller however many are in flight, and the same errors.
 */
describe.skipIf(!postgresUrl)("PostgreSQL's client on a thread of its own", () => {
  let temp: Awaited<ReturnType<typeof createTempDatabase>>;
  let threaded: PostgresDatabase;
  let inThread: PostgresDatabase;
  beforeAll(async () => {
    temp = await createTempDatabase(postgresUrl!);
    threaded = await PostgresDatabase.open(temp.url, { thread: "worker" });
    inThread = await PostgresDatabase.open(temp.url, { thread: "main", migrate: false });
    // A function that answers its argument, to tell the answers apart.
    await inThread.pool!.query(
      "create function tdk_test_echo(p_value text, p_delay_ms integer) returns jsonb language plpgsql as $$ begin perform pg_sleep(p_delay_ms / 1000.0); return jsonb_build_object('value', p_value); end $$",
    );
  });
  afterAll(async () => {
    await threaded?.close();
    await inThread?.close();
    await temp?.drop();
  });

  it("migrates before it answers, and answers what the pool on this thread answers", async () => {
    const { rows } = await inThread.pool!.query<{ n: number }>("select count(*)::int as n from tdk_schema_migrations");
    expect(rows[0]!.n).toBeGreaterThan(20);
    expect(threaded.pool).toBeNull();
    for (const db of [threaded, inThread]) {
      expect(await db.call("tdk_verify_api_key", { p_key_hash: "0".repeat(64) })).toBeNull();
      expect(await db.call("tdk_test_echo", { p_value: "x", p_delay_ms: 0 })).toEqual({ value: "x" });
      await db.ping();
    }
  });

  it("gives each of 64 calls in flight its own answer, whatever order they finish in", async () => {
    const values = Array.from({ length: 64 }, (_, i) => `v${i}`);
    const answers = await Promise.all(
      values.map((value, i) => threaded.call("tdk_test_echo", { p_value: value, p_delay_ms: (i * 7) % 20 })),
    );
    expect(answers).toEqual(values.map((value) => ({ value })));
  });

  it("fails a call as the pool does: a DatabaseError naming the function, with PostgreSQL's message and code", async () => {
    const failures = await Promise.all(
      [threaded, inThread].map((db) => db.call("tdk_no_such_function", { p_x: 1 }).catch((error: unknown) => error)),
    );
    for (const failure of failures) {
      expect(failure).toBeInstanceOf(DatabaseError);
      expect((failure as DatabaseError).fn).toBe("tdk_no_such_function");
      expect(((failure as DatabaseError).cause as { code?: string }).code).toBe("42883");
    }
    expect((failures[0] as Error).message).toBe((failures[1] as Error).message);
    // The thread goes on answering after a failure.
    expect(await threaded.call("tdk_test_echo", { p_value: "after", p_delay_ms: 0 })).toEqual({ value: "after" });
  });

  it("refuses calls once closed, and closes its connections", async () => {
    const named = new URL(temp.url);
    named.searchParams.set("application_name", "tdk-thread-closed");
    const db = await PostgresDatabase.open(named.toString(), { thread: "worker", migrate: false });
    await Promise.all(Array.from({ length: 8 }, () => db.ping()));
    const connections = async () => {
      const { rows } = await inThread.pool!.query<{ n: number }>(
        "select count(*)::int as n from pg_stat_activity where datname = current_database() and application_name = 'tdk-thread-closed'",
      );
      return rows[0]!.n;
    };
    expect(await connections()).toBe(4);
    await db.close();
    await expect(db.call("tdk_test_echo", { p_value: "late", p_delay_ms: 0 })).rejects.toThrow(/thread stopped/);
    await expect.poll(connections, { timeout: 5_000 }).toBe(0);
  });
});
