import pg from "pg";
import { buildFunctionCall, DatabaseError, type Database, type DbArgs } from "./types";
import { migrate, type MigrationTarget } from "./migrations";
import { DEFAULT_DATABASE_POOL_MAX } from "@/lib/env";
import { PostgresThread } from "./postgres-thread";

// jsonb comes back parsed by pg's default type parsers; bigint (int8) is never returned bare
// because every function answers jsonb.

/** Where the SQL function calls are made: on a thread of the client's own (the server's default) or on the calling thread. */
export type PostgresThreadMode = "worker" | "main";

function newPool(url: string, max: number): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max });
  // An idle client's network error must not crash the process; the next query reconnects.
  pool.on("error", () => {});
  return pool;
}

/**
 * Any Postgres through DATABASE_URL (node-postgres). Its SQL function calls go through a pool on
 * this thread, or (`thread: "worker"`) through a pool on a thread of the client's own
 * (lib/db/postgres-thread.ts), off the request thread. Either way the process holds `max`
 * connections at most: with the thread, migrations run on one connection closed before it starts.
 */
export class PostgresDatabase implements Database {
  readonly kind = "postgres" as const;

  private constructor(private readonly client: { pool: pg.Pool } | { thread: PostgresThread }) {}

  /** This thread's pool (null when the calls go through the client's thread): tests read through it. */
  get pool(): pg.Pool | null {
    return "pool" in this.client ? this.client.pool : null;
  }

  /** `max`: the connections at most (DATABASE_POOL_MAX; its default when not given). */
  static async open(
    url: string,
    options: { migrate?: boolean; max?: number; thread?: PostgresThreadMode } = {},
  ): Promise<PostgresDatabase> {
    const max = options.max ?? DEFAULT_DATABASE_POOL_MAX;
    if (options.thread !== "worker") {
      const pool = newPool(url, max);
      if (options.migrate ?? true) await migrate(poolMigrationTarget(pool));
      return new PostgresDatabase({ pool });
    }
    if (options.migrate ?? true) {
      const pool = newPool(url, 1);
      try {
        await migrate(poolMigrationTarget(pool));
      } finally {
        await pool.end();
      }
    }
    return new PostgresDatabase({ thread: await PostgresThread.start(url, max) });
  }

  async call(fn: string, args: DbArgs): Promise<unknown> {
    const { text, values } = buildFunctionCall(fn, args);
    try {
      if ("thread" in this.client) return await this.client.thread.query(text, values);
      const result = await this.client.pool.query<{ result: unknown }>(text, values);
      return result.rows[0]?.result ?? null;
    } catch (error) {
      throw new DatabaseError(`Database function ${fn} failed: ${(error as Error).message}`, fn, error);
    }
  }

  async ping(): Promise<void> {
    if ("thread" in this.client) await this.client.thread.query("select 1 as result", []);
    else await this.client.pool.query("select 1");
  }

  async close(): Promise<void> {
    if ("thread" in this.client) await this.client.thread.close();
    else await this.client.pool.end();
  }
}

/** Migrations in one transaction on one of the pool's connections, under an advisory lock. */
function poolMigrationTarget(pool: pg.Pool): MigrationTarget {
  return {
    transaction: async (work) => {
      const client = await pool.connect();
      try {
        await client.query("begin");
        // Serialises instances starting at once (several serverless functions, say).
        await client.query("select pg_advisory_xact_lock(hashtext('tdk_schema_migrations'))");
        await work({
          exec: async (sql) => void (await client.query(sql)),
          appliedVersions: async () => {
            const result = await client.query<{ version: string }>("select version from tdk_schema_migrations");
            return new Set(result.rows.map((row) => row.version));
          },
        });
        await client.query("commit");
      } catch (error) {
        await client.query("rollback").catch(() => {});
        throw error;
      } finally {
        client.release();
      }
    },
  };
}
