import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "@/lib/db";
import { parseEnv } from "@/lib/env";
import { createTempDatabase, testDatabaseUrl } from "../helpers/postgres";

const postgresUrl = testDatabaseUrl();

/** DATABASE_URL for one test's gateway: its connections carry their own application_name. */
function urlNamed(url: string, applicationName: string): string {
  const named = new URL(url);
  named.searchParams.set("application_name", applicationName);
  return named.toString();
}

/**
 * The connections to this test's database open under that application_name: one pool's, not those
 * of a pool closed before it, nor another test run's on the same server.
 */
async function connectionsNamed(url: string, applicationName: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const result = await client.query<{ n: number }>(
      "select count(*)::int as n from pg_stat_activity where datname = current_database() and application_name = $1",
      [applicationName],
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

describe.skipIf(!postgresUrl)("PostgreSQL pool size (DATABASE_POOL_MAX), the client on its own thread (the default) or not", () => {
  let temp: Awaited<ReturnType<typeof createTempDatabase>>;
  beforeAll(async () => {
    temp = await createTempDatabase(postgresUrl!);
  });
  afterAll(async () => {
    await temp?.drop();
  });

  it.each([
    { label: "4 at most by default, however many queries wait", name: "tdk-pool-default", env: {}, most: 4 },
    {
      label: "4 at most with the client on the request thread (POSTGRES_THREAD=main) too",
      name: "tdk-pool-main",
      env: { POSTGRES_THREAD: "main" },
      most: 4,
    },
    { label: "as many as DATABASE_POOL_MAX says", name: "tdk-pool-two", env: { DATABASE_POOL_MAX: "2" }, most: 2 },
  ])("holds $label", async ({ name, env, most }) => {
    const db = await openDatabase(parseEnv({ DATABASE_URL: urlNamed(temp.url, name), ...env }));
    try {
      await pingsAtOnce(db, 16);
      expect(await connectionsNamed(temp.url, name)).toBe(most);
    } finally {
      await db.close();
    }
  });
});
