import type { z } from "zod";
import { errorStatus, type ErrorCode } from "@/lib/openapi/error-codes";

export { errorStatus, type ErrorCode } from "@/lib/openapi/error-codes";

export type FieldErrors = Record<string, string[]>;

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

export interface ErrorBody {
  error: { code: ErrorCode; message: string; request_id: string; fields?: FieldErrors; [key: string]: unknown };
}

export function errorBody(error: ApiError, requestId: string): ErrorBody {
  const { headers: _headers, ...extra } = error.details;
  return { error: { code: error.code, message: error.message, request_id: requestId, ...extra } };
}
