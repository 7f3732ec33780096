import { randomBytes } from "node:crypto";
import pg from "pg";

/**
 * The real PostgreSQL of the test run (TEST_DATABASE_URL; CI sets it). Each suite gets its own
 * fresh database, dropped afterwards, so runs never see each other's rows.
 */
export function testDatabaseUrl(): string | null {
  const url = process.env.TEST_DATABASE_URL?.trim();
  if (!url && process.env.CI === "true") {
    throw new Error("CI=true but TEST_DATABASE_URL is not set: the Postgres contract suites must run in CI.");
  }
  return url || null;
}

export async function createTempDatabase(baseUrl: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `tdk_test_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  try {
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const client = new pg.Client({ connectionString: baseUrl });
      await client.connect();
      try {
        await client.query(`drop database if exists ${name} with (force)`);
      } finally {
        await client.end();
      }
    },
  };
}

/**
 * Databases to run a concurrency test on: PGlite (the app's default, one connection) always, and a
 * fresh real PostgreSQL behind a pool when TEST_DATABASE_URL is set, where row locks do the work.
 * `db` undefined means "let createTestApp open its in-memory PGlite".
 */
export interface ConcurrencyBackend {
  name: string;
  open(): Promise<{ db?: import("@/lib/db").Database; close(): Promise<void> }>;
}

export function concurrencyBackends(): ConcurrencyBackend[] {
  const backends: ConcurrencyBackend[] = [{ name: "PGlite", open: async () => ({ close: async () => {} }) }];
  const url = testDatabaseUrl();
  if (url) {
    backends.push({
      name: "PostgreSQL (pool of 10)",
      open: async () => {
        const { PostgresDatabase } = await import("@/lib/db/postgres");
        const temp = await createTempDatabase(url);
        const db = await PostgresDatabase.open(temp.url, { max: 10 });
        return {
          db,
          close: async () => {
            await db.close();
            await temp.drop();
          },
        };
      },
    });
  }
  return backends;
}
