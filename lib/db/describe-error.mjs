// What a database client's thread sends back of an error (lib/db/pglite-worker.mjs,
// lib/db/postgres-worker.mjs): plain JavaScript, loaded by Node as it is, like them.

/** An error's message and its Postgres fields (code, detail, constraint, ...): all a caller reads. */
export function describeError(error) {
  const fields = { message: error instanceof Error ? error.message : String(error) };
  if (error && typeof error === "object")
    for (const [name, value] of Object.entries(error))
      if (value === null || ["string", "number", "boolean"].includes(typeof value)) fields[name] = value;
  return fields;
}
