/**
 * The one data-access seam. The gateway reads and writes only through SQL functions, each
 * returning jsonb, so every backend answers `call` the same way:
 *   PGlite / Postgres: `select fn(p_a => $1, ...)`,  Supabase: `supabase.rpc('fn', { p_a })`.
 */
export type DbArg = string | number | bigint | boolean | Date | null | Record<string, unknown> | unknown[];
export type DbArgs = Record<string, DbArg>;

export interface Database {
  readonly kind: "pglite" | "postgres" | "supabase";
  call(fn: string, args: DbArgs): Promise<unknown>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export class DatabaseError extends Error {
  constructor(
    message: string,
    readonly fn: string,
    readonly cause?: unknown,
  ) {
    super(message);
    this.name = "DatabaseError";
  }
}

const identifier = /^[a-z_][a-z0-9_]{0,62}$/;

/** Function and argument names go into SQL text, so only plain lowercase identifiers pass. */
export function assertIdentifier(name: string): string {
  if (!identifier.test(name)) throw new Error(`Not a valid SQL identifier: ${JSON.stringify(name)}`);
  return name;
}

/** A value as Postgres reads it from text: the type comes from the function's signature. */
export function toSqlText(value: DbArg): string | null {
  if (value === null) return null;
  if (value instanceof Date) return value.toISOString();
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/** A value as JSON for PostgREST: bigint has no JSON form, so it travels as a string. */
export function toJsonArg(value: DbArg): unknown {
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Date) return value.toISOString();
  return value;
}

/** `select fn(p_a => $1, p_b => $2) as result` and its parameters. */
export function buildFunctionCall(fn: string, args: DbArgs): { text: string; values: (string | null)[] } {
  const names = Object.keys(args);
  const params = names.map((name, i) => `${assertIdentifier(name)} => $${i + 1}`);
  return {
    text: `select ${assertIdentifier(fn)}(${params.join(", ")}) as result`,
    values: names.map((name) => toSqlText(args[name]!)),
  };
}
