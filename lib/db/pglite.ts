import { mkdir } from "node:fs/promises";
import { PGlite } from "@electric-sql/pglite";
import { buildFunctionCall, DatabaseError, type Database, type DbArgs } from "./types";
import { migrate, type MigrationTarget } from "./migrations";
import { PGliteThread, type PGliteClient } from "./pglite-thread";
import { queryInOneExchange } from "./pglite-query.mjs";

/** Where PGlite runs: on a thread of its own (the server's default) or on the calling thread (tests, scripts' in-memory databases). */
export type PGliteThreadMode = "worker" | "main";

/**
 * Embedded Postgres (PGlite). One instance per data directory per process: Next.js may load this
 * module once per route bundle, so instances live on globalThis, and a second PGlite on the same
 * directory would corrupt it (the first open's thread mode holds for the process).
 */
const instances: Map<string, Promise<PGliteDatabase>> = ((globalThis as Record<string, unknown>).__tdkPglite ??= new Map()) as Map<
  string,
  Promise<PGliteDatabase>
>;

/** PGlite on the calling thread, its queries sent as the thread's are (lib/db/pglite-query.mjs). */
function inThread(pglite: PGlite): PGliteClient {
  return {
    query: (text, params, options) => queryInOneExchange(pglite, text, params, options),
    exec: (text) => pglite.exec(text),
    transaction: (work) => pglite.transaction(work),
    close: () => pglite.close(),
  };
}

export class PGliteDatabase implements Database {
  readonly kind = "pglite" as const;

  private constructor(private readonly pg: PGliteClient) {}

  /** `dataDir` null: in memory (tests). Migrations are applied before the database is handed out. */
  static open(dataDir: string | null, options: { thread?: PGliteThreadMode } = {}): Promise<PGliteDatabase> {
    const key = dataDir ?? `memory:${Math.random()}`;
    let instance = instances.get(key);
    if (!instance) {
      instance = (async () => {
        if (dataDir) await mkdir(dataDir, { recursive: true });
        const pg: PGliteClient =
          options.thread === "worker" ? await PGliteThread.start(dataDir) : inThread(await PGlite.create(dataDir ?? undefined));
        const db = new PGliteDatabase(pg);
        await migrate(db.migrationTarget());
        return db;
      })();
      instances.set(key, instance);
      instance.catch(() => instances.delete(key));
    }
    return instance;
  }

  async call(fn: string, args: DbArgs): Promise<unknown> {
    const { text, values } = buildFunctionCall(fn, args);
    try {
      // Prepared: one text per function and argument names, parsed and planned once a session.
      const result = await this.pg.query<{ result: unknown }>(text, values, { prepared: true });
      return result.rows[0]?.result ?? null;
    } catch (error) {
      throw new DatabaseError(`Database function ${fn} failed: ${(error as Error).message}`, fn, error);
    }
  }

  async ping(): Promise<void> {
    await this.pg.query("select 1");
  }

  async close(): Promise<void> {
    for (const [key, instance] of instances) if ((await instance.catch(() => null)) === this) instances.delete(key);
    await this.pg.close();
  }

  migrationTarget(): MigrationTarget {
    return pgliteMigrationTarget(this.pg);
  }
}

/** Migrations through a PGlite's transactions: the server's, or a bare PGlite's (tests that read the schema with raw SQL). */
export function pgliteMigrationTarget(pg: Pick<PGliteClient, "transaction">): MigrationTarget {
  return {
    // PGlite is one connection: its transaction() already serialises everything.
    transaction: (work) =>
      pg.transaction(async (tx) => {
        await work({
          exec: async (sql) => void (await tx.exec(sql)),
          appliedVersions: async () =>
            new Set((await tx.query<{ version: string }>("select version from tdk_schema_migrations")).rows.map((r) => r.version)),
        });
      }),
  };
}
