import pg from "pg";
import { buildFunctionCall, DatabaseError, type Database, type DbArgs } from "./types";
import { migrate, type MigrationTarget } from "./migrations";
import { DEFAULT_DATABASE_POOL_MAX } from "@/lib/env";

// jsonb comes back parsed by pg's default type parsers; bigint (int8) is never returned bare
// because every function answers jsonb.

/** Any Postgres through DATABASE_URL (node-postgres pool). */
export class PostgresDatabase implements Database {
  readonly kind = "postgres" as const;

  constructor(private readonly pool: pg.Pool) {}

  /** `max`: the pool's connections at most (DATABASE_POOL_MAX; its default when not given). */
  static async open(url: string, options: { migrate?: boolean; max?: number } = {}): Promise<PostgresDatabase> {
    const pool = new pg.Pool({ connectionString: url, max: options.max ?? DEFAULT_DATABASE_POOL_MAX });
    // An idle client's network error must not crash the process; the next query reconnects.
    pool.on("error", () => {});
    const db = new PostgresDatabase(pool);
    if (options.migrate ?? true) await migrate(db.migrationTarget());
    return db;
  }

  async call(fn: string, args: DbArgs): Promise<unknown> {
    const { text, values } = buildFunctionCall(fn, args);
    try {
      const result = await this.pool.query<{ result: unknown }>(text, values);
      return result.rows[0]?.result ?? null;
    } catch (error) {
      throw new DatabaseError(`Database function ${fn} failed: ${(error as Error).message}`, fn, error);
    }
  }

  async ping(): Promise<void> {
    await this.pool.query("select 1");
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  migrationTarget(): MigrationTarget {
    return {
      transaction: async (work) => {
        const client = await this.pool.connect();
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
}
