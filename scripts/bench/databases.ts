/**
 * The databases the scale sections run on: PGlite in memory, and a fresh PostgreSQL database
 * (dropped after) when BENCH_DATABASE_URL is set. Each with raw SQL for bulk setup.
 */
import pg from "pg";
import type { Database } from "@/lib/db";

export type Sql = (text: string, values?: unknown[]) => Promise<{ rows: Record<string, unknown>[] }>;

export interface BenchDatabase {
  db: Database;
  sql: Sql;
  close: () => Promise<void>;
}

export interface BenchBackend {
  name: "PGlite" | "PostgreSQL";
  open: () => Promise<BenchDatabase>;
}

async function openPglite(): Promise<BenchDatabase> {
  const { PGliteDatabase } = await import("@/lib/db/pglite");
  const db = await PGliteDatabase.open(null);
  const raw = (db as unknown as { pg: import("@electric-sql/pglite").PGlite }).pg;
  return { db, sql: (text, values) => raw.query(text, values as unknown[]) as ReturnType<Sql>, close: () => db.close() };
}

async function openPostgres(baseUrl: string): Promise<BenchDatabase> {
  const { createTempDatabase } = await import("@/tests/helpers/postgres");
  const { PostgresDatabase } = await import("@/lib/db/postgres");
  const temp = await createTempDatabase(baseUrl);
  const db = await PostgresDatabase.open(temp.url);
  const pool = new pg.Pool({ connectionString: temp.url, max: 2 });
  return {
    db,
    sql: (text, values) => pool.query(text, values as unknown[]),
    close: async () => {
      await pool.end();
      await db.close();
      await temp.drop();
    },
  };
}

/** PGlite, then PostgreSQL when BENCH_DATABASE_URL is set. */
export function benchBackends(): BenchBackend[] {
  const base = process.env.BENCH_DATABASE_URL;
  return [{ name: "PGlite", open: openPglite }, ...(base ? [{ name: "PostgreSQL" as const, open: () => openPostgres(base) }] : [])];
}
