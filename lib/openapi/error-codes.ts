import { z } from "zod";

// The API's error catalog: part of its contract (the OpenAPI document and the docs page list it),
// so it lives with the contract; lib/http/errors builds the answers from it.

/** Every error the API can answer with, and its HTTP status. One map, one shape. */
export const errorStatus = {
  bad_request: 400,
  invalid_json: 400,
  invalid_agent_input: 400,
  invalid_signature: 400,
  validation_failed: 400,
  invalid_token: 400,
  unauthorized: 401,
  reauthentication_required: 401,
  invalid_credentials: 401,
  invalid_api_key: 401,
  key_revoked: 401,
  quota_exceeded: 402,
  insufficient_balance: 402,
  card_required: 402,
  free_allowance_exhausted: 402,
  spend_limit_reached: 402,
  max_cost_exceeded: 402,
  forbidden: 403,
  cross_site_request: 403,
  key_suspended: 403,
  account_suspended: 403,
  agent_not_callable: 403,
  not_found: 404,
  unknown_agent: 404,
  method_not_allowed: 405,
  email_taken: 409,
  key_limit_reached: 409,
  idempotency_in_progress: 409,
  ambiguous_agent: 409,
  identical_payment_in_flight: 409,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  idempotency_key_reused: 422,
  rate_limited: 429,
  key_daily_limit_reached: 429,
  agent_failure_cap_reached: 429,
  marketplace_rate_limited: 429,
  internal_error: 500,
  marketplace_error: 502,
  agent_failed: 502,
  unsafe_transaction: 502,
  outcome_unknown: 502,
  service_unavailable: 503,
  agent_unavailable: 503,
} as const;

export type ErrorCode = keyof typeof errorStatus;

/** Every error answer's shape. */
export const errorBodySchema = z
  .object({
    error: z
      .object({
        code: z.enum(Object.keys(errorStatus) as [keyof typeof errorStatus, ...(keyof typeof errorStatus)[]]),
        message: z.string(),
        request_id: z.string(),
        fields: z.record(z.string(), z.array(z.string())).optional().describe("Validation errors by field"),
      })
      .catchall(z.unknown()),
  })
  .describe("Every error answer");
