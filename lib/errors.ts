import type { z } from "zod";
import { errorStatus, type ErrorCode } from "@/lib/openapi/error-codes";

export { errorStatus, type ErrorCode } from "@/lib/openapi/error-codes";

/**
 * A refusal the caller can act on: a code from the API's error catalog, a message for people, and
 * details for programs. Services throw it; the HTTP wrappers answer it in the common error shape and
 * the server actions show its message on the form. Anything else that is thrown is our fault (500).
 */
export class ApiError extends Error {
  readonly status: number;

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: { fields?: FieldErrors; headers?: Record<string, string>; [key: string]: unknown } = {},
  ) {
    super(message);
    this.name = "ApiError";
    this.status = errorStatus[code];
  }
}

export type FieldErrors = Record<string, string[]>;

/** Zod issues as `{ "field.path": ["message", ...] }`, the shape forms and clients both read. */
export function fieldErrors(error: z.ZodError): FieldErrors {
  const fields: FieldErrors = {};
  for (const issue of error.issues) {
    const key = issue.path.length > 0 ? issue.path.join(".") : "_";
    (fields[key] ??= []).push(issue.message);
  }
  return fields;
}

export function validationError(error: z.ZodError): ApiError {
  return new ApiError("validation_failed", "The request body is invalid.", { fields: fieldErrors(error) });
}

/**
 * Our own output through its schema (model: Dub's `tokenSchema.array().parse(tokens)`): what is
 * sent is what is documented, with no field beyond it. A mismatch is our bug, so it throws a plain
 * Error (a 500), never the ZodError the wrappers answer as the caller's 400.
 */
export function conform<S extends z.ZodType>(schema: S, value: z.input<S>): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const error = new Error(`Our answer does not match its schema at ${issue?.path.join(".") || "(root)"}: ${issue?.message}`);
  error.name = "ResponseShapeError";
  throw error;
}
