import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "@/lib/db";
import { parseEnv } from "@/lib/env";
import { createTempDatabase, testDatabaseUrl } from "../helpers/postgres";

const postgresUrl = testDatabaseUrl();

/** Connections to the database other than the counting one: the gateway's pool. */
async function connectionsTo(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const result = await client.query<{ n: number }>(
      "select count(*)::int as n from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()",
    );
    return result.rows[0]!.n;
  } finally {
    await client.end();
  }
}

/** `count` pings at once: each one the pool cannot give an idle connection opens another, up to its maximum. */
async function pingsAtOnce(db: Database, count: number): Promise<void> {
  await Promise.all(Array.from({ length: count }, () => db.ping()));
}

describe.skipIf(!postgresUrl)("PostgreSQL pool size (DATABASE_POOL_MAX)", () => {
  let temp: Awaited<ReturnType<typeof createTempDatabase>>;
  beforeAll(async () => {
    temp = await createTempDatabase(postgresUrl!);
  });
  afterAll(async () => {
    await temp?.drop();
  });

  it("holds 4 connections at most by default, however many queries wait", async () => {
    const db = await openDatabase(parseEnv({ DATABASE_URL: temp.url }));
    try {
      await pingsAtOnce(db, 16);
      expect(await connectionsTo(temp.url)).toBe(4);
    } finally {
      await db.close();
    }
    expect(await connectionsTo(temp.url)).toBe(0);
  });

  it("holds as many as DATABASE_POOL_MAX says", async () => {
    const db = await openDatabase(parseEnv({ DATABASE_URL: temp.url, DATABASE_POOL_MAX: "2" }));
    try {
      await pingsAtOnce(db, 16);
      expect(await connectionsTo(temp.url)).toBe(2);
    } finally {
      await db.close();
    }
  });
});
