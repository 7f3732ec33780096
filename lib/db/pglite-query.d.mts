import type { PGlite, Results } from "@electric-sql/pglite";

/** See pglite-query.mjs: `pg.query(text, params)` in one exchange when every parameter is text or null. */
export function queryInOneExchange<T = Record<string, unknown>>(pg: PGlite, text: string, params?: unknown[]): Promise<Results<T>>;
