import type { ApiError, ErrorCode, FieldErrors } from "@/lib/errors";

export { ApiError, errorStatus, fieldErrors, validationError, type ErrorCode, type FieldErrors } from "@/lib/errors";

export interface ErrorBody {
  error: { code: ErrorCode; message: string; request_id: string; fields?: FieldErrors; [key: string]: unknown };
}

export function errorBody(error: ApiError, requestId: string): ErrorBody {
  const { headers: _headers, ...extra } = error.details;
  return { error: { code: error.code, message: error.message, request_id: requestId, ...extra } };
}
