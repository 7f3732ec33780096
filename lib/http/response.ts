import { randomBytes } from "node:crypto";
import { NextResponse } from "next/server";
import { ApiError, errorBody } from "./errors";

export function newRequestId(): string {
  return `req_${randomBytes(12).toString("base64url")}`;
}

export function json(data: unknown, init: { status?: number; headers?: Record<string, string> } = {}): NextResponse {
  return NextResponse.json(data, {
    status: init.status ?? 200,
    headers: { "Cache-Control": "no-store", ...init.headers },
  });
}

/**
 * Any failure as the one error shape. Unexpected errors answer a generic 500 and are logged with
 * the request id only: no body, no key, no secret reaches the log.
 */
export function errorResponse(error: unknown, requestId: string): NextResponse {
  if (error instanceof ApiError) {
    return json(errorBody(error, requestId), { status: error.status, headers: error.details.headers });
  }
  const name = error instanceof Error ? error.name : typeof error;
  const message = error instanceof Error ? error.message : "";
  console.error(`[tdk] request_id=${requestId} unexpected ${name}: ${message}`);
  return json(
    errorBody(new ApiError("internal_error", "Something went wrong on our side. Quote the request id if you contact us."), requestId),
    {
      status: 500,
    },
  );
}
