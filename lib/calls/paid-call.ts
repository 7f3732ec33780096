import { PublicKey } from "@solana/web3.js";
import type { AgentMarketplace } from "@/lib/context";
import { pricedInUsdc } from "@/lib/agents/catalog";
import { MarketplaceError, type CallResult } from "@/lib/agents/marketplace-client";
import { developerCostMicro } from "@/lib/agents/pricing";
import type { MarketplaceAgent } from "@/lib/agents/protocol";
import { verifyPaymentTransaction } from "@/lib/agents/verify-transaction";
import type { KeyRing } from "@/lib/crypto/secret-box";
import { openWalletSigner } from "@/lib/crypto/wallet-keys";
import type { Database } from "@/lib/db";
import type { VerifiedKey } from "@/lib/keys/schemas";
import type { MoneyPolicy } from "@/lib/money/policy";
import type { RateLimiter, RateLimitPolicy } from "@/lib/ratelimit/types";
import { retryAfterSeconds } from "@/lib/ratelimit/types";
import { addressOf, toBase58 } from "@/lib/solana/base58";
import { topUpWallet, type FundingDeps } from "@/lib/solana/funding";
import type { Ledger } from "@/lib/solana/ledger";
import { signSingleSignerMessage } from "@/lib/solana/signing";
import { annotateSpan, inSpan } from "@/lib/tracing";
import type { CallCharge, CallOutcome, NotPaid, Refusal } from "./outcome";
import { readStoredOutcome } from "./outcome";
import { confirmPayment, recoverPendingCalls, resolvePayment } from "./recovery";
import type { CallBody } from "./schemas";
import {
  beginPaidCall,
  hashCallBody,
  recordCallPayment,
  recordCallResult,
  settleCall,
  type BegunCall,
  type ReserveArgs,
  type ReservedUsage,
} from "./usage-store";
import { logLine } from "@/lib/logger";

/**
 * One paid call (DESIGN.md "One paid call"), as its steps:
 *   lookUpAgent → reserveWithTopUp → buildVerifiedPayment → signAndRecord → submitAndSettle.
 * Each step that changes money is recorded before the next starts, so a crash anywhere leaves a
 * row that recovery settles from the chain: no double payment, no lost usage row, no charge
 * without a call. The result is a domain outcome; `lib/http/call-answer.ts` words it.
 */

export type PipelineStep = "reserved" | "built" | "signed" | "submitted" | "answered" | "settled";

export interface CallDeps {
  db: Database;
  ledger: Ledger;
  ring: KeyRing;
  agents: AgentMarketplace;
  pricing: { markupBps: number };
  /** Every limit on unbilled spend, checked by the reservation and the settlement (lib/money/policy.ts). */
  policy: MoneyPolicy;
  /** Agents priced above this are never paid. */
  maxAgentPriceMicro: bigint;
  /** The most a marketplace payment's compute budget may cost the wallet on top of the base fee. */
  maxPriorityFeeLamports: bigint;
  /** The marketplace's calls per wallet per minute, enforced here before anything is reserved; null: no limit. */
  marketplaceLimit: { limiter: RateLimiter; policy: RateLimitPolicy } | null;
  /** How long to wait for the marketplace's answer to a paid call of this agent (its type's timeout + submission). */
  callTimeoutMs: (agent: MarketplaceAgent) => number;
  /** How long to wait for a payment the marketplace reports as made to show on the chain before leaving it to recovery. */
  confirmWaitMs: number;
  /** A call of the key pending for longer than this is recovered (settled from the chain) on the key's next call. */
  recoverPendingAfterMs: number;
  /** The treasury, for a top-up on the call path: `deps()` decrypts it only then (null when none is configured). */
  funding: { deps(): Promise<FundingDeps | null>; targets: { usdcMicro: bigint; solLamports: bigint } };
  /** Crash-injection seam for tests: runs after each step; throwing there stops the call as a crash would. */
  afterStep?: (step: PipelineStep, usageId: string) => void | Promise<void>;
  /** Operator log (no secret ever goes in). */
  log?: (line: string) => void;
}

export interface CallRequest {
  requestId: string;
  body: CallBody;
  idempotencyKey: string | null;
}

/** A payment identical to another call's in flight is rebuilt on the next blockhash, this many times at most. */
const IDENTICAL_PAYMENT_ATTEMPTS = 4;

interface PricedAgent {
  agent: MarketplaceAgent;
  agentCostMicro: bigint;
  developerCostMicro: bigint;
}

export async function paidCall(deps: CallDeps, key: VerifiedKey, request: CallRequest): Promise<CallOutcome> {
  return inSpan("paid_call", { "tdk.request_id": request.requestId, "tdk.key_id": key.key_id }, async () => {
    const outcome = await runPaidCall(deps, key, request);
    annotateSpan({ "tdk.outcome": outcome.kind });
    return outcome;
  });
}

/** A span per step: `paid_call.<step>`, with the request's id, so a trace shows where a call's time went. */
function step<T>(name: string, request: CallRequest, fn: () => Promise<T>): Promise<T> {
  return inSpan(`paid_call.${name}`, { "tdk.request_id": request.requestId }, fn);
}

async function runPaidCall(deps: CallDeps, key: VerifiedKey, request: CallRequest): Promise<CallOutcome> {
  const refused = (refusal: Refusal): CallOutcome => ({ kind: "refused", requestId: request.requestId, refusal });
  const priced = await step("look_up_agent", request, () => lookUpAgent(deps, request.body));
  if (!priced.ok) return refused(priced.refusal);
  const limited = await marketplaceLimit(deps, key);
  if (limited) return refused(limited);

  const reservation = await step("reserve", request, () => reserveWithTopUp(deps, key, request, priced));
  if (reservation.kind !== "reserved") return reservation.kind === "replayed" ? reservation.outcome : refused(reservation.refusal);
  const { usage, wallet } = reservation;
  await deps.afterStep?.("reserved", usage.id);

  const charge: CallCharge = {
    agentId: priced.agent.id,
    agentName: priced.agent.name,
    agentCostMicro: Number(priced.agentCostMicro),
    markupBps: deps.pricing.markupBps,
    developerCostMicro: Number(priced.developerCostMicro),
    tier: usage.tier,
  };
  const call = { deps, key, request, usage, wallet, priced, charge };
  for (let attempt = 1; ; attempt += 1) {
    const payment = await step("build_payment", request, () => buildVerifiedPayment(call));
    if (!payment.ok) return releaseCall(call, payment.reason);
    await deps.afterStep?.("built", usage.id);
    const signed = await step("sign_and_record", request, () => signAndRecord(call, payment));
    if (signed.ok) return step("submit_and_settle", request, () => submitAndSettle(call, signed));
    // The marketplace adds no nonce: another call of this key built the same bytes in the same slot.
    (deps.log ?? logLine("info"))(
      `[tdk] request_id=${request.requestId} payment identical to one in flight (attempt ${attempt}); rebuilding on the next blockhash`,
    );
    if (attempt === IDENTICAL_PAYMENT_ATTEMPTS) return releaseCall(call, { code: "identical_payment_in_flight" });
    await nextBlockhash(deps.ledger, payment.recentBlockhash);
  }
}

/** Step 5: the agent by id, else by unique name; refused before anything is reserved unless we will pay it. */
async function lookUpAgent(deps: CallDeps, body: CallBody): Promise<({ ok: true } & PricedAgent) | { ok: false; refusal: Refusal }> {
  const refuse = (refusal: Refusal) => ({ ok: false as const, refusal });
  let lookup: Awaited<ReturnType<CallDeps["agents"]["client"]["findAgent"]>>;
  try {
    lookup = await deps.agents.client.findAgent(body.agent_id);
  } catch (error) {
    return refuse({ code: "marketplace_unavailable", message: (error as Error).message });
  }
  if (!lookup.ok)
    return refuse(
      lookup.code === "unknown_agent"
        ? { code: "unknown_agent", agent: body.agent_id }
        : { code: "ambiguous_agent", agent: body.agent_id, ids: lookup.ids },
    );
  const { agent } = lookup;
  if (agent.status !== "active") return refuse({ code: "agent_inactive", agentName: agent.name, status: agent.status });
  if (!pricedInUsdc(agent, addressOf(deps.ledger.usdcMint))) {
    return refuse({
      code: "agent_not_priced_in_usdc",
      agentName: agent.name,
      token: agent.token === "USDC" ? `USDC of another mint (${agent.token_mint})` : agent.token,
    });
  }
  const agentCostMicro = BigInt(agent.price_base);
  if (agentCostMicro > deps.maxAgentPriceMicro) {
    return refuse({
      code: "agent_price_above_maximum",
      agentName: agent.name,
      agentCostMicro: Number(agentCostMicro),
      maxAgentPriceMicro: Number(deps.maxAgentPriceMicro),
    });
  }
  const developerCost = developerCostMicro(agentCostMicro, deps.pricing.markupBps);
  if (body.max_cost_usd !== undefined && developerCost > body.max_cost_usd) {
    return refuse({
      code: "max_cost_exceeded",
      agentName: agent.name,
      developerCostMicro: Number(developerCost),
      maxCostMicro: Number(body.max_cost_usd),
    });
  }
  return { ok: true, agent, agentCostMicro, developerCostMicro: developerCost };
}

/** The marketplace's per-wallet limit (one wallet per key), counted here so it answers 429 before anything is reserved. */
async function marketplaceLimit(deps: CallDeps, key: VerifiedKey): Promise<Refusal | null> {
  if (!deps.marketplaceLimit) return null;
  const { limiter, policy } = deps.marketplaceLimit;
  const result = await limiter.limit(policy, key.wallet_public_key);
  return result.success ? null : { code: "marketplace_rate_limited", retryAfterSeconds: retryAfterSeconds(result), limit: policy.limit };
}

type EncryptedWallet = NonNullable<BegunCall["wallet"]>;

type ReserveStep =
  | { kind: "reserved"; usage: ReservedUsage; wallet: EncryptedWallet }
  | { kind: "replayed"; outcome: CallOutcome }
  | { kind: "refused"; refusal: Refusal };

/**
 * Steps 6–7: every limit, the balance and the pending row in one SQL call, with one top-up from the
 * treasury if short. The same call says whether the key has calls left pending by a crash or a lost
 * answer: those are settled from the chain (recovery) before this call goes on, and when they held
 * the reservation back (their amounts still reserved), it is judged again without them.
 */
async function reserveWithTopUp(deps: CallDeps, key: VerifiedKey, request: CallRequest, priced: PricedAgent): Promise<ReserveStep> {
  const args: ReserveArgs = {
    keyId: key.key_id,
    keyHash: key.key_hash,
    requestId: request.requestId,
    agentId: priced.agent.id,
    agentName: priced.agent.name,
    agentCostMicro: priced.agentCostMicro,
    markupBps: deps.pricing.markupBps,
    developerCostMicro: priced.developerCostMicro,
    idempotencyKey: request.idempotencyKey,
    requestHash: hashCallBody(request.body),
  };
  // The configured policy: the reservation applies the account's operator overrides (quota,
  // allowance, failure cap) from its row, never from a verification that may be seconds old.
  const policy = deps.policy;
  const staleBefore = new Date(Date.now() - deps.recoverPendingAfterMs);
  let begun = await beginPaidCall(deps.db, args, policy, staleBefore);
  if (begun.stale_pending) {
    await recoverPendingCalls(deps, { keyId: key.key_id, olderThan: staleBefore });
    if (!begun.reservation.ok) begun = await beginPaidCall(deps.db, args, policy, staleBefore);
  }
  let reservation = begun.reservation;
  let topUp: string | null = null;
  if (!reservation.ok && reservation.code === "insufficient_balance") {
    const funding = await deps.funding.deps();
    if (!funding) {
      topUp = "no_treasury";
    } else {
      const funded = await topUpWallet(funding, { id: key.key_id, wallet: new PublicKey(key.wallet_public_key) }, deps.funding.targets);
      topUp = funded.ok ? "funded" : funded.code;
      if (funded.ok) {
        begun = await beginPaidCall(deps.db, args, policy, staleBefore);
        reservation = begun.reservation;
      }
    }
  }
  if (reservation.ok) {
    if (!begun.wallet) throw new Error(`the reservation of key ${key.key_id} held but its wallet was not returned`);
    return { kind: "reserved", usage: reservation.usage, wallet: begun.wallet };
  }
  if (reservation.code !== "idempotent_replay") {
    return {
      kind: "refused",
      refusal: {
        code: "reservation",
        refusal: reservation,
        agentName: priced.agent.name,
        developerCostMicro: Number(priced.developerCostMicro),
        topUp,
      },
    };
  }
  const first = reservation.usage;
  if (first.request_hash !== args.requestHash) return { kind: "refused", refusal: { code: "idempotency_key_reused" } };
  if (first.status === "pending" || !first.response) return { kind: "refused", refusal: { code: "idempotency_in_progress" } };
  return { kind: "replayed", outcome: { kind: "replayed", stored: readStoredOutcome(first.response) } };
}

interface ReservedCall {
  deps: CallDeps;
  key: VerifiedKey;
  request: CallRequest;
  usage: ReservedUsage;
  wallet: EncryptedWallet;
  priced: PricedAgent;
  charge: CallCharge;
}

/** Ends a reserved call that paid nothing: failed, reservation released, outcome stored for replays. */
async function releaseCall({ deps, request, usage }: ReservedCall, reason: NotPaid): Promise<CallOutcome> {
  const outcome: CallOutcome = { kind: "not_paid", requestId: request.requestId, reason };
  const error = "message" in reason ? reason.message : "reason" in reason ? `refused to sign: ${reason.reason}` : reason.code;
  await settleCall(deps.db, usage.id, { status: "failed", error, outcome }, deps.policy);
  return outcome;
}

type BuiltPayment =
  | { ok: true; recentBlockhash: string; message: Buffer; intentId: string; lastValidBlockHeight: number }
  | { ok: false; reason: NotPaid };

/** Step 8a–b: the marketplace builds the payment (validating the input), and it is signed only if the policy allows it. */
async function buildVerifiedPayment({ deps, key, request, priced }: ReservedCall): Promise<BuiltPayment> {
  const { agent, agentCostMicro } = priced;
  let build: Awaited<ReturnType<CallDeps["agents"]["client"]["buildTransaction"]>>;
  try {
    build = await deps.agents.client.buildTransaction(agent.id, key.wallet_public_key, request.body.input);
  } catch (error) {
    const status = error instanceof MarketplaceError ? error.status : null;
    if (status === 429)
      return {
        ok: false,
        reason: {
          code: "marketplace_rate_limited",
          message: (error as Error).message,
          retryAfterSeconds: (error as MarketplaceError).retryAfterSeconds ?? 60,
        },
      };
    return {
      ok: false,
      reason: {
        code: status !== null && status >= 400 && status < 500 ? "invalid_agent_input" : "marketplace_error",
        message: (error as Error).message,
      },
    };
  }
  if (!build.ok)
    return {
      ok: false,
      reason: {
        code: build.httpStatus >= 400 && build.httpStatus < 500 ? "invalid_agent_input" : "marketplace_error",
        message: build.error,
      },
    };

  const verified =
    BigInt(build.amount_base) !== agentCostMicro
      ? ({ ok: false, reason: `the intent is for ${build.amount_base} base units, the agent's price is ${agentCostMicro}` } as const)
      : verifyPaymentTransaction(build.transaction, {
          wallet: new PublicKey(key.wallet_public_key),
          usdcMint: deps.ledger.usdcMint,
          priceMicro: agentCostMicro,
          owner: new PublicKey(agent.owner_wallet),
          protocolWallet: deps.agents.protocolWallet,
          feeBps: agent.fee_bps,
          maxPriorityFeeLamports: deps.maxPriorityFeeLamports,
        });
  if (!verified.ok) {
    (deps.log ?? logLine("warn"))(
      `[tdk] request_id=${request.requestId} refused to sign a marketplace transaction for agent ${agent.name}: ${verified.reason}`,
    );
    return { ok: false, reason: { code: "unsafe_transaction", reason: verified.reason } };
  }
  // When the payment can no longer land: without it, recovery could never conclude "not paid".
  const lastValidBlockHeight = await deps.ledger.lastValidBlockHeight(verified.recentBlockhash);
  if (lastValidBlockHeight === null)
    return { ok: false, reason: { code: "unsafe_transaction", reason: "it uses a blockhash this chain never handed out" } };
  return {
    ok: true,
    recentBlockhash: verified.recentBlockhash,
    message: verified.message,
    intentId: build.payment_intent_id,
    lastValidBlockHeight,
  };
}

type SignedPayment = { ok: true; wire: Buffer; intentId: string; signature: string; lastValidBlockHeight: number } | { ok: false };

/** Step 8c: the wallet is decrypted for this signature only, and the signature recorded before it leaves. */
async function signAndRecord({ deps, usage, wallet }: ReservedCall, payment: Extract<BuiltPayment, { ok: true }>): Promise<SignedPayment> {
  // The message bytes the signing policy checked are the bytes signed.
  const signed = signSingleSignerMessage(openWalletSigner(deps.ring, wallet.secret_encrypted, wallet.public_key), payment.message);
  const signature = toBase58(signed.signature);
  const recorded = await recordCallPayment(deps.db, usage.id, {
    paymentIntentId: payment.intentId,
    txSignature: signature,
    recentBlockhash: payment.recentBlockhash,
    lastValidBlockHeight: payment.lastValidBlockHeight,
  });
  if (!recorded.ok) return { ok: false };
  await deps.afterStep?.("signed", usage.id);
  return { ok: true, wire: signed.wire, intentId: payment.intentId, signature, lastValidBlockHeight: payment.lastValidBlockHeight };
}

/** Steps 8d–9: the marketplace submits the payment and calls the agent; what it answered decides how the call settles. */
async function submitAndSettle(call: ReservedCall, signed: Extract<SignedPayment, { ok: true }>): Promise<CallOutcome> {
  const { deps, usage } = call;
  let result: CallResult | null = null;
  let callError: Error | null = null;
  try {
    result = await deps.agents.client.callAgent(signed.intentId, signed.wire.toString("base64"), deps.callTimeoutMs(call.priced.agent));
  } catch (error) {
    callError = error as Error;
  }
  await deps.afterStep?.("submitted", usage.id);
  if (result?.ok) {
    const output = result.output !== undefined ? result.output : await receiptOutput(deps, result.receipt_id ?? null, signed.signature);
    if (output !== undefined) return settleAnswered(call, signed, output, result.receipt_id ?? null);
  }
  return settleUnanswered(call, signed, result, callError);
}

/**
 * The agent answered. The call is billed only once its payment is seen on the chain. The answer is
 * on the row before anything waits, so a crash from here on loses nothing (recovery settles it and
 * the caller reads it back):
 *  - the chain already shows the payment (the marketplace confirms before it calls the agent: the
 *    usual case): the settlement writes the answer with it, one SQL call and one row version;
 *  - otherwise the answer is kept on the pending row first, then the payment is waited for.
 */
async function settleAnswered(
  call: ReservedCall,
  signed: Extract<SignedPayment, { ok: true }>,
  output: unknown,
  receiptId: string | null,
): Promise<CallOutcome> {
  const { deps, request, usage, charge } = call;
  const { signature, lastValidBlockHeight } = signed;
  const succeeded: CallOutcome = { kind: "succeeded", requestId: request.requestId, charge, output, txSignature: signature, receiptId };
  if ((await resolvePayment(deps.ledger, { signature, lastValidBlockHeight })) === "paid") {
    await settleCall(deps.db, usage.id, { status: "succeeded", txSignature: signature, receiptId, outcome: succeeded }, deps.policy);
    // The steps a crash can be injected after, as in the waiting case: the answer is kept, then settled.
    await deps.afterStep?.("answered", usage.id);
    await deps.afterStep?.("settled", usage.id);
    return succeeded;
  }
  await recordCallResult(deps.db, usage.id, { receiptId, outcome: succeeded });
  await deps.afterStep?.("answered", usage.id);
  const payment = await confirmPayment(deps.ledger, { signature, lastValidBlockHeight }, deps.confirmWaitMs);
  if (payment === "unknown") return { kind: "unknown", requestId: request.requestId, txSignature: signature };
  if (payment === "not_paid")
    return releaseCall(call, {
      code: "marketplace_error",
      message: "The marketplace reported success, but its payment never landed on the chain",
    });
  await settleCall(deps.db, usage.id, { status: "succeeded", txSignature: signature, receiptId, outcome: succeeded }, deps.policy);
  await deps.afterStep?.("settled", usage.id);
  return succeeded;
}

/** No answer, or a failure: whether the call was paid is read from the chain, never assumed. */
async function settleUnanswered(
  call: ReservedCall,
  signed: Extract<SignedPayment, { ok: true }>,
  result: CallResult | null,
  callError: Error | null,
): Promise<CallOutcome> {
  const { deps, request, usage } = call;
  const { signature, lastValidBlockHeight } = signed;
  const message = result
    ? result.ok
      ? "The marketplace answered without the agent's output"
      : result.error
    : `The marketplace did not answer: ${callError?.message ?? "no answer"}`;
  if (result?.receipt_id) await recordCallResult(deps.db, usage.id, { receiptId: result.receipt_id, outcome: null });
  const payment = await resolvePayment(deps.ledger, { signature, lastValidBlockHeight });
  if (payment === "paid") {
    const outcome: CallOutcome = { kind: "agent_failed", requestId: request.requestId, message, txSignature: signature };
    await settleCall(deps.db, usage.id, { status: "agent_failed", txSignature: signature, error: message, outcome }, deps.policy);
    return outcome;
  }
  if (payment === "not_paid") {
    const limited = callError instanceof MarketplaceError && callError.status === 429 ? callError : null;
    return releaseCall(
      call,
      limited
        ? { code: "marketplace_rate_limited", message, retryAfterSeconds: limited.retryAfterSeconds ?? 60 }
        : { code: "marketplace_error", message },
    );
  }
  return { kind: "unknown", requestId: request.requestId, txSignature: signature };
}

/** The agent's output from the marketplace's receipt of this very payment; undefined when there is none to read. */
async function receiptOutput(deps: CallDeps, receiptId: string | null, signature: string): Promise<unknown> {
  if (!receiptId) return undefined;
  try {
    const receipt = await deps.agents.client.getReceipt(receiptId);
    return receipt.tx_signature === signature ? receipt.output_data : undefined;
  } catch {
    return undefined;
  }
}

/** Waits (a slot is 400 ms) until the chain hands out a blockhash other than `previous`. */
async function nextBlockhash(ledger: Ledger, previous: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await ledger.latestBlockhash()).blockhash !== previous) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
