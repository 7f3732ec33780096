import type { Reservation } from "./usage-store";

/**
 * What a paid call came to, as a domain value: the pipeline decides, `lib/http/call-answer.ts`
 * words it for the caller. Settled outcomes are stored on the usage row as they are (JSON, money
 * as integer micro-USD numbers), so an idempotent replay is answered by the same function.
 */

/** What the caller is charged for a call that succeeded (or would be, for refusals that quote it). */
export interface CallCharge {
  agentId: string;
  agentName: string;
  agentCostMicro: number;
  markupBps: number;
  developerCostMicro: number;
  tier: "free" | "paid" | "pro";
}

/** The reservation's refusals (SQL), as they come: nothing reserved, nothing paid. */
export type ReservationRefusal = Exclude<Reservation, { ok: true } | { code: "idempotent_replay" }>;

/** Refused before anything was reserved or paid. Never stored: a retry is decided afresh. */
export type Refusal =
  | { code: "marketplace_unavailable"; message: string }
  | { code: "unknown_agent"; agent: string }
  | { code: "ambiguous_agent"; agent: string; ids: string[] }
  | { code: "agent_inactive"; agentName: string; status: string }
  | { code: "agent_not_priced_in_usdc"; agentName: string; token: string }
  | { code: "agent_price_above_maximum"; agentName: string; agentCostMicro: number; maxAgentPriceMicro: number }
  | { code: "max_cost_exceeded"; agentName: string; developerCostMicro: number; maxCostMicro: number }
  | { code: "marketplace_rate_limited"; retryAfterSeconds: number; limit: number | null }
  | { code: "idempotency_key_reused" }
  | { code: "idempotency_in_progress" }
  | { code: "reservation"; refusal: ReservationRefusal; agentName: string; developerCostMicro: number; topUp: string | null };

/** Reserved, then released: the call ended before anything was paid. */
export type NotPaid =
  | { code: "invalid_agent_input"; message: string }
  | { code: "marketplace_error"; message: string }
  | { code: "marketplace_rate_limited"; message: string; retryAfterSeconds: number }
  | { code: "unsafe_transaction"; reason: string }
  | { code: "identical_payment_in_flight" };

export type CallOutcome =
  | { kind: "succeeded"; requestId: string; charge: CallCharge; output: unknown; txSignature: string; receiptId: string | null }
  | { kind: "refused"; requestId: string; refusal: Refusal }
  | { kind: "not_paid"; requestId: string; reason: NotPaid }
  /** Paid on chain, but no answer from the agent: not billed. */
  | { kind: "agent_failed"; requestId: string; message: string; txSignature: string }
  /** Signed and sent; whether it landed is not known yet. The row stays pending until recovery settles it. */
  | { kind: "unknown"; requestId: string; txSignature: string }
  /** The same Idempotency-Key and body as a settled call: its stored outcome, paid once. */
  | { kind: "replayed"; stored: StoredOutcome };

/** An outcome read back from a usage row for a replay; `legacy` is an answer stored before outcomes were. */
export type StoredOutcome =
  | { kind: "outcome"; outcome: CallOutcome }
  | { kind: "legacy"; answer: { status: number; body: unknown; headers?: Record<string, string> } };

export function readStoredOutcome(stored: Record<string, unknown>): StoredOutcome {
  if (typeof stored.kind === "string") return { kind: "outcome", outcome: stored as unknown as CallOutcome };
  return { kind: "legacy", answer: stored as { status: number; body: unknown } };
}
