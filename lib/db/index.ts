import path from "node:path";
import type { z } from "zod";
import type { Env } from "@/lib/env";
import { DatabaseError, type Database, type DbArgs } from "./types";

export type { Database, DbArgs } from "./types";
export { DatabaseError } from "./types";

/** Opens the configured backend: PGlite in the data dir, Postgres via DATABASE_URL, or Supabase. */
export async function openDatabase(env: Env): Promise<Database> {
  switch (env.database.kind) {
    case "supabase": {
      const { SupabaseDatabase } = await import("./supabase");
      return new SupabaseDatabase(env.database.url, env.database.serviceRoleKey);
    }
    case "postgres": {
      const { PostgresDatabase } = await import("./postgres");
      return PostgresDatabase.open(env.database.url, { max: env.database.poolMax, thread: env.database.thread });
    }
    case "pglite": {
      const { PGliteDatabase } = await import("./pglite");
      return PGliteDatabase.open(path.join(env.dataDir, "pglite"), { thread: env.database.thread });
    }
  }
}

/** Calls a SQL function and parses its jsonb answer: nothing unparsed reaches the app. */
export async function callFunction<S extends z.ZodType>(db: Database, fn: string, args: DbArgs, schema: S): Promise<z.infer<S>> {
  const raw = await db.call(fn, args);
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    throw new DatabaseError(`Database function ${fn} answered an unexpected shape: ${parsed.error.issues[0]?.message}`, fn);
  }
  return parsed.data;
}
