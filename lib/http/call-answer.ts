import { microToUsd } from "@/lib/money/units";
import type { CallOutcome, NotPaid, Refusal, ReservationRefusal } from "@/lib/calls/outcome";
import { ApiError, errorBody, type ErrorCode } from "./errors";

/** An answer of the call endpoint: status, body, and headers beyond the usual ones (Retry-After). */
export interface CallAnswer {
  status: number;
  body: unknown;
  headers: Record<string, string>;
}

/**
 * The one place a paid call's outcome becomes an HTTP answer — fresh or replayed. `origin` is this
 * gateway's own, for the links an answer carries (where to verify a card, where to read a call).
 */
export function callAnswer(outcome: CallOutcome, origin: string): CallAnswer {
  switch (outcome.kind) {
    case "succeeded": {
      const { charge } = outcome;
      return {
        status: 200,
        headers: {},
        body: {
          success: true,
          output: outcome.output,
          usage: {
            request_id: outcome.requestId,
            agent_id: charge.agentId,
            agent_name: charge.agentName,
            agent_cost_usd: microToUsd(charge.agentCostMicro),
            markup_pct: charge.markupBps / 100,
            developer_cost_usd: microToUsd(charge.developerCostMicro),
            agent_cost_micro: charge.agentCostMicro,
            developer_cost_micro: charge.developerCostMicro,
            tier: charge.tier,
            tx_signature: outcome.txSignature,
            receipt_id: outcome.receiptId,
          },
        },
      };
    }
    case "refused":
      return refusalAnswer(outcome.refusal, outcome.requestId, origin);
    case "not_paid":
      return notPaidAnswer(outcome.reason, outcome.requestId);
    case "agent_failed":
      return error(
        outcome.requestId,
        "agent_failed",
        `The agent failed after it was paid: ${outcome.message}. This call is not billed to you.`,
        {
          paid: true,
          tx_signature: outcome.txSignature,
        },
      );
    case "unknown":
      return error(
        outcome.requestId,
        "outcome_unknown",
        "The call's outcome is not known yet. Its payment is checked on the chain and never made twice; read it at call_url, or retry with the same Idempotency-Key.",
        { paid: null, tx_signature: outcome.txSignature, call_url: `${origin}/api/tdk/v1/calls/${encodeURIComponent(outcome.requestId)}` },
      );
    case "replayed": {
      const { stored } = outcome;
      const answer = stored.kind === "legacy" ? { headers: {}, ...stored.answer } : callAnswer(stored.outcome, origin);
      return { ...answer, headers: { ...answer.headers, "Idempotent-Replayed": "true" } };
    }
  }
}

function error(
  requestId: string,
  code: ErrorCode,
  message: string,
  details: Record<string, unknown> = {},
  retryAfterSeconds?: number,
): CallAnswer {
  const apiError = new ApiError(code, message, details);
  return {
    status: apiError.status,
    body: errorBody(apiError, requestId),
    headers: retryAfterSeconds === undefined ? {} : { "Retry-After": String(Math.max(1, Math.ceil(retryAfterSeconds))) },
  };
}

/** Seconds from now until `at` (an ISO time), at least 1. */
function secondsUntil(at: string): number {
  return Math.max(1, Math.ceil((Date.parse(at) - Date.now()) / 1000));
}

function refusalAnswer(refusal: Refusal, requestId: string, origin: string): CallAnswer {
  switch (refusal.code) {
    case "marketplace_unavailable":
      return error(requestId, "marketplace_error", `The agent marketplace is unavailable: ${refusal.message}`, { paid: false });
    case "unknown_agent":
      return error(requestId, "unknown_agent", `No agent "${refusal.agent}" in the marketplace. GET /api/tdk/v1/agents lists them.`);
    case "ambiguous_agent":
      return error(requestId, "ambiguous_agent", `${refusal.ids.length} agents are named "${refusal.agent}". Call one by its id.`, {
        ids: refusal.ids,
        paid: false,
      });
    case "agent_inactive":
      return error(
        requestId,
        "agent_not_callable",
        `Agent ${refusal.agentName} is not active in the marketplace (status "${refusal.status}").`,
        {
          reason: "inactive",
          status: refusal.status,
          paid: false,
        },
      );
    case "agent_not_priced_in_usdc":
      return error(
        requestId,
        "agent_not_callable",
        `Agent ${refusal.agentName} is priced in ${refusal.token}, not in this gateway's USDC.`,
        {
          reason: "not_priced_in_usdc",
          token: refusal.token,
          paid: false,
        },
      );
    case "agent_price_above_maximum":
      return error(
        requestId,
        "agent_not_callable",
        `Agent ${refusal.agentName} costs ${microToUsd(refusal.agentCostMicro)} USD a call, above this gateway's maximum of ${microToUsd(refusal.maxAgentPriceMicro)} USD.`,
        {
          reason: "price_above_maximum",
          agent_cost_usd: microToUsd(refusal.agentCostMicro),
          max_agent_price_usd: microToUsd(refusal.maxAgentPriceMicro),
          paid: false,
        },
      );
    case "max_cost_exceeded":
      return error(
        requestId,
        "max_cost_exceeded",
        `Agent ${refusal.agentName} costs you ${microToUsd(refusal.developerCostMicro)} USD, above your max_cost_usd of ${microToUsd(refusal.maxCostMicro)}.`,
        { developer_cost_usd: microToUsd(refusal.developerCostMicro), max_cost_usd: microToUsd(refusal.maxCostMicro), paid: false },
      );
    case "marketplace_rate_limited":
      return error(
        requestId,
        "marketplace_rate_limited",
        `The marketplace allows ${refusal.limit ?? "a limited number of"} agent calls per minute per wallet (one wallet per key). Nothing was paid.`,
        { limit: refusal.limit, paid: false },
        refusal.retryAfterSeconds,
      );
    case "idempotency_key_reused":
      return error(requestId, "idempotency_key_reused", "This Idempotency-Key was used with a different request body.");
    case "idempotency_in_progress":
      return error(
        requestId,
        "idempotency_in_progress",
        "The first request with this Idempotency-Key is still being processed. Retry later.",
      );
    case "reservation":
      return reservationAnswer(refusal.refusal, {
        requestId,
        origin,
        agentName: refusal.agentName,
        developerCostMicro: refusal.developerCostMicro,
        topUp: refusal.topUp,
      });
  }
}

/** The reservation refused: nothing was reserved and nothing is paid. */
function reservationAnswer(
  refusal: ReservationRefusal,
  context: { requestId: string; origin: string; agentName: string; developerCostMicro: number; topUp: string | null },
): CallAnswer {
  const { requestId } = context;
  switch (refusal.code) {
    case "account_suspended":
      return error(
        requestId,
        "account_suspended",
        `This account is suspended (${refusal.reason}): its keys cannot call until it is lifted.`,
        { reason: refusal.reason },
      );
    case "agent_unavailable":
      return error(
        requestId,
        "agent_unavailable",
        `Agent ${context.agentName} kept failing after being paid and is paused for everyone until ${refusal.retry_at}. Nothing was paid.`,
        { retry_at: refusal.retry_at, paid: false },
        secondsUntil(refusal.retry_at),
      );
    case "card_required": {
      const url = `${context.origin}/billing/card`;
      return error(
        requestId,
        "card_required",
        `The free tier needs a verified card before anything is paid for you. Save one at ${url} (nothing is charged).`,
        { url },
      );
    }
    case "quota_exceeded":
      return error(requestId, "quota_exceeded", `The free tier's ${refusal.limit} calls this month are used up. Upgrade to keep calling.`, {
        limit: refusal.limit,
        used: refusal.used,
      });
    case "free_allowance_exhausted":
      return error(
        requestId,
        "free_allowance_exhausted",
        refusal.card_already_used && refusal.allowance_micro === 0
          ? "This account's card already gave the free allowance to another account. Upgrade to keep calling."
          : `The free tier's ${microToUsd(refusal.allowance_micro)} USD of agent cost this month is used up. Upgrade to keep calling.`,
        {
          allowance_usd: microToUsd(refusal.allowance_micro),
          spent_usd: microToUsd(refusal.spent_micro),
          required_usd: microToUsd(refusal.required_micro),
        },
      );
    case "agent_failure_cap_reached":
      return error(
        requestId,
        "agent_failure_cap_reached",
        `Calls that failed after payment (with those in flight) reached this account's daily cap of ${microToUsd(refusal.cap_micro)} USD.`,
        {
          cap_usd: microToUsd(refusal.cap_micro),
          failed_today_usd: microToUsd(refusal.failed_today_micro),
          in_flight_usd: microToUsd(refusal.in_flight_micro),
          retry_at: refusal.retry_at,
        },
        secondsUntil(refusal.retry_at),
      );
    case "spend_limit_reached":
      return error(
        requestId,
        "spend_limit_reached",
        `This key's spend limit of ${microToUsd(refusal.limit_micro)} USD (${refusal.period}) would be exceeded. Nothing was paid.`,
        {
          limit_usd: microToUsd(refusal.limit_micro),
          spent_usd: microToUsd(refusal.spent_micro),
          required_usd: microToUsd(context.developerCostMicro),
          period: refusal.period,
          resets_at: refusal.resets_at,
        },
      );
    case "insufficient_balance":
      return error(requestId, "insufficient_balance", "The key's wallet cannot cover this call and could not be topped up now.", {
        available_usd: microToUsd(refusal.available_micro),
        required_usd: microToUsd(refusal.required_micro),
        topup: context.topUp,
      });
    // Worded as withApiKey words a key that fails verification: a reused verification
    // (lib/keys/recent-verifications.ts) is refused here instead, nothing reserved.
    case "key_inactive":
      if (refusal.status === "suspended") {
        const reason = refusal.reason ?? null;
        return error(requestId, "key_suspended", `This API key is suspended${reason ? ` (${reason})` : ""}.`, { reason });
      }
      return error(requestId, "key_revoked", "This API key has been revoked.");
  }
}

function notPaidAnswer(reason: NotPaid, requestId: string): CallAnswer {
  switch (reason.code) {
    case "invalid_agent_input":
      return error(requestId, "invalid_agent_input", reason.message, { paid: false });
    case "marketplace_error":
      return error(requestId, "marketplace_error", reason.message, { paid: false });
    case "marketplace_rate_limited":
      return error(
        requestId,
        "marketplace_rate_limited",
        `The marketplace refused the call for now: ${reason.message}. Nothing was paid.`,
        { limit: null, paid: false },
        reason.retryAfterSeconds,
      );
    case "unsafe_transaction":
      return error(requestId, "unsafe_transaction", `The marketplace built a payment this gateway will not sign: ${reason.reason}.`, {
        paid: false,
      });
    case "identical_payment_in_flight":
      return error(
        requestId,
        "identical_payment_in_flight",
        "Another call of this key built a byte-identical payment at the same moment; nothing was paid. Retry: the next block gives it a new blockhash.",
        { paid: false },
        1,
      );
  }
}

/** A call's outcome for the request's log line: how it ended and what it cost (ids and amounts, nothing secret). */
export function callLogFields(outcome: CallOutcome): Record<string, string | number | null> {
  switch (outcome.kind) {
    case "succeeded":
      return {
        outcome: "succeeded",
        agent_id: outcome.charge.agentId,
        cost_micro: outcome.charge.developerCostMicro,
        agent_cost_micro: outcome.charge.agentCostMicro,
      };
    case "refused":
      return { outcome: "refused", refusal: outcome.refusal.code === "reservation" ? outcome.refusal.refusal.code : outcome.refusal.code };
    case "not_paid":
      return { outcome: "not_paid" };
    case "agent_failed":
      return { outcome: "agent_failed", tx_signature: outcome.txSignature };
    case "unknown":
      return { outcome: "unknown", tx_signature: outcome.txSignature };
    case "replayed":
      return { outcome: "replayed" };
  }
}
