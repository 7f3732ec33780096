import type { PGlite, Results } from "@electric-sql/pglite";

/** See pglite-query.mjs: at most this many statements are prepared on one PGlite. */
export const MAX_PREPARED_STATEMENTS: number;

/**
 * See pglite-query.mjs: `pg.query(text, params)` in one exchange when every parameter is text or
 * null; with `prepared`, the text parsed once as a named statement and only bound and executed after.
 */
export function queryInOneExchange<T = Record<string, unknown>>(
  pg: PGlite,
  text: string,
  params?: unknown[],
  options?: { prepared?: boolean },
): Promise<Results<T>>;

/** See pglite-query.mjs: a Bind of the unnamed portal to `statement`, every parameter text or null. */
export function bindText(statement: string, values: (string | null)[]): Buffer;
