import { microToUsd } from "@/lib/agents/pricing";
import type { ErrorCode } from "@/lib/http/errors";
import type { CallAnswer, Reservation } from "./usage-store";

type Refusal = Exclude<Reservation, { ok: true } | { code: "idempotent_replay" }>;

interface RefusalContext {
  fail: (code: ErrorCode, message: string, details?: Record<string, unknown>) => CallAnswer;
  agentName: string;
  developerCost: bigint;
  /** What the top-up attempt on the call path did, when the balance was short. */
  topUpOutcome: string | null;
  origin: string;
}

/** An answer to retry later: with Retry-After, in whole seconds until `at`. */
function retryLater(answer: CallAnswer, at: string): CallAnswer {
  const seconds = Math.max(1, Math.ceil((Date.parse(at) - Date.now()) / 1000));
  return { ...answer, headers: { "Retry-After": String(seconds) } };
}

/** The answer to a call the reservation refused: nothing was reserved and nothing is paid. */
export function refusalAnswer(refusal: Refusal, { fail, agentName, developerCost, topUpOutcome, origin }: RefusalContext): CallAnswer {
  switch (refusal.code) {
    case "account_suspended":
      return fail("account_suspended", `This account is suspended (${refusal.reason}): its keys cannot call until it is lifted.`, { reason: refusal.reason });
    case "agent_unavailable":
      return retryLater(
        fail("agent_unavailable", `Agent ${agentName} kept failing after being paid and is paused for everyone until ${refusal.retry_at}. Nothing was paid.`, {
          retry_at: refusal.retry_at,
          paid: false,
        }),
        refusal.retry_at,
      );
    case "card_required": {
      const url = `${origin}/billing/card`;
      return fail("card_required", `The free tier needs a verified card before anything is paid for you. Save one at ${url} (nothing is charged).`, { url });
    }
    case "quota_exceeded":
      return fail("quota_exceeded", `The free tier's ${refusal.limit} calls this month are used up. Upgrade to keep calling.`, {
        limit: refusal.limit,
        used: refusal.used,
      });
    case "free_allowance_exhausted":
      return fail(
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
      return retryLater(
        fail("agent_failure_cap_reached", `Calls that failed after payment (with those in flight) reached this account's daily cap of ${microToUsd(refusal.cap_micro)} USD.`, {
          cap_usd: microToUsd(refusal.cap_micro),
          failed_today_usd: microToUsd(refusal.failed_today_micro),
          in_flight_usd: microToUsd(refusal.in_flight_micro),
          retry_at: refusal.retry_at,
        }),
        refusal.retry_at,
      );
    case "spend_limit_reached":
      return fail("spend_limit_reached", `This key's spend limit of ${microToUsd(refusal.limit_micro)} USD (${refusal.period}) would be exceeded. Nothing was paid.`, {
        limit_usd: microToUsd(refusal.limit_micro),
        spent_usd: microToUsd(refusal.spent_micro),
        required_usd: microToUsd(developerCost),
        period: refusal.period,
        resets_at: refusal.resets_at,
      });
    case "insufficient_balance":
      return fail("insufficient_balance", "The key's wallet cannot cover this call and could not be topped up now.", {
        available_usd: microToUsd(refusal.available_micro),
        required_usd: microToUsd(refusal.required_micro),
        topup: topUpOutcome,
      });
    case "key_inactive":
      return fail("key_revoked", "This API key is no longer active.");
  }
}
