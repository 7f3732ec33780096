import { PublicKey } from "@solana/web3.js";
import { z } from "zod";
import type { AgentMarketplace } from "@/lib/context";
import { MarketplaceError, type CallResult } from "@/lib/agents/marketplace-client";
import { developerCostMicro, microToUsd } from "@/lib/agents/pricing";
import type { MarketplaceAgent } from "@/lib/agents/protocol";
import { verifyPaymentTransaction } from "@/lib/agents/verify-transaction";
import type { KeyRing } from "@/lib/crypto/secret-box";
import { openKeypair } from "@/lib/crypto/wallet-keys";
import { callFunction, type Database } from "@/lib/db";
import { ApiError, errorBody, type ErrorCode } from "@/lib/http/errors";
import type { VerifiedKey } from "@/lib/keys/schemas";
import { toBase58 } from "@/lib/solana/base58";
import { USDC_DECIMALS, type Ledger } from "@/lib/solana/ledger";
import type { MoneyPolicy } from "@/lib/money/policy";
import { topUpWallet, type FundingDeps } from "@/lib/solana/funding";
import { recoverPendingCalls, resolvePayment } from "./recovery";
import type { CallBody } from "./schemas";
import { refusalAnswer } from "./refusals";
import { hashCallBody, recordCallPayment, reserveCall, settleCall, type CallAnswer, type ReserveArgs } from "./usage-store";

/**
 * One paid call (DESIGN.md "One paid call"): reserve → build → verify → sign → record → submit
 * and call → settle. Every step that changes money is recorded before the next one starts, so a
 * crash anywhere leaves a row that recovery settles from the chain: no double payment, no lost
 * usage row, no charge without a call.
 */

export type PipelineStep = "reserved" | "built" | "signed" | "submitted" | "settled";

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
  /** Top-up on the call path; null when no treasury is configured. Loaded only when needed. */
  topUp: () => Promise<{ funding: FundingDeps; targets: { usdcMicro: bigint; solLamports: bigint } } | null>;
  /** Crash-injection seam for tests: runs after each step; throwing there stops the call as a crash would. */
  afterStep?: (step: PipelineStep, usageId: string) => void | Promise<void>;
  /** Operator log (no secret ever goes in). */
  log?: (line: string) => void;
}

export interface CallRequest {
  requestId: string;
  body: CallBody;
  idempotencyKey: string | null;
  /** This gateway's origin, for links in answers (where to verify a card). */
  origin: string;
}

/** Pending calls older than this are settled from the chain by the next call of the same key. */
export const STALE_PENDING_MS = 120_000;

export async function paidCall(deps: CallDeps, key: VerifiedKey, request: CallRequest): Promise<CallAnswer & { replayed?: boolean }> {
  const { requestId, body } = request;
  const fail = (code: ErrorCode, message: string, details: Record<string, unknown> = {}): CallAnswer => {
    const error = new ApiError(code, message, details);
    return { status: error.status, body: errorBody(error, requestId) };
  };
  const log = deps.log ?? ((line: string) => console.warn(line));

  await recoverPendingCalls(deps, { keyId: key.key_id, olderThan: new Date(Date.now() - STALE_PENDING_MS) });

  // Step 5: the agent and its price, from the (cached) catalog.
  let agent: MarketplaceAgent | null;
  try {
    agent = await deps.agents.client.findAgent(body.agent_id);
  } catch (error) {
    return fail("marketplace_error", `The agent marketplace is unavailable: ${(error as Error).message}`, { paid: false });
  }
  if (!agent) return fail("unknown_agent", `No agent "${body.agent_id}" in the marketplace. GET /api/tdk/v1/agents lists them.`);
  if (agent.token_mint !== deps.ledger.usdcMint.toBase58() || agent.token_decimals !== USDC_DECIMALS) {
    return fail("marketplace_error", `Agent ${agent.name} is not priced in this gateway's USDC.`, { paid: false });
  }
  const agentCost = BigInt(agent.price_base);
  // Nothing is reserved or paid for an agent above the gateway's maximum price, or above the caller's.
  if (agentCost > deps.maxAgentPriceMicro) {
    return fail("agent_not_callable", `Agent ${agent.name} costs ${microToUsd(agentCost)} USD a call, above this gateway's maximum of ${microToUsd(deps.maxAgentPriceMicro)} USD.`, {
      agent_cost_usd: microToUsd(agentCost),
      max_agent_price_usd: microToUsd(deps.maxAgentPriceMicro),
    });
  }
  const developerCost = developerCostMicro(agentCost, deps.pricing.markupBps);
  if (body.max_cost_usd !== undefined && developerCost > body.max_cost_usd) {
    return fail("max_cost_exceeded", `Agent ${agent.name} costs you ${microToUsd(developerCost)} USD, above your max_cost_usd of ${microToUsd(body.max_cost_usd)}.`, {
      developer_cost_usd: microToUsd(developerCost),
      max_cost_usd: microToUsd(body.max_cost_usd),
      paid: false,
    });
  }
  const reserveArgs: ReserveArgs = {
    keyId: key.key_id,
    requestId,
    agentId: agent.id,
    agentName: agent.name,
    agentCostMicro: agentCost,
    markupBps: deps.pricing.markupBps,
    developerCostMicro: developerCost,
    idempotencyKey: request.idempotencyKey,
    requestHash: hashCallBody(body),
  };

  // Step 6: reserve (every limit, the balance, the pending row), with one top-up from the treasury if short (step 7).
  let reservation = await reserveCall(deps.db, reserveArgs, deps.policy);
  let topUpOutcome: string | null = null;
  if (!reservation.ok && reservation.code === "insufficient_balance") {
    const topUp = await deps.topUp();
    if (!topUp) {
      topUpOutcome = "no_treasury";
    } else {
      const result = await topUpWallet(topUp.funding, { id: key.key_id, wallet: new PublicKey(key.wallet_public_key) }, topUp.targets);
      topUpOutcome = result.ok ? "funded" : result.code;
      if (result.ok) reservation = await reserveCall(deps.db, reserveArgs, deps.policy);
    }
  }
  if (!reservation.ok) {
    if (reservation.code === "idempotent_replay") {
      const first = reservation.usage;
      if (first.request_hash !== reserveArgs.requestHash) {
        return fail("idempotency_key_reused", "This Idempotency-Key was used with a different request body.");
      }
      if (first.status === "pending" || !first.response) {
        return fail("idempotency_in_progress", "The first request with this Idempotency-Key is still being processed. Retry later.");
      }
      return { ...first.response, replayed: true };
    }
    return refusalAnswer(reservation, { fail, agentName: agent.name, developerCost, topUpOutcome, origin: request.origin });
  }
  const usage = reservation.usage;
  await deps.afterStep?.("reserved", usage.id);

  const settleFailed = async (answer: CallAnswer, error: string) => {
    await settleCall(deps.db, usage.id, { status: "failed", error, response: answer }, deps.policy);
    return answer;
  };

  // Step 8a: the marketplace builds the payment; the input is validated there, before any payment.
  const wallet = new PublicKey(key.wallet_public_key);
  let build;
  try {
    build = await deps.agents.client.buildTransaction(agent.id, key.wallet_public_key, body.input);
  } catch (error) {
    const status = error instanceof MarketplaceError ? error.status : null;
    const code = status !== null && status >= 400 && status < 500 ? "invalid_agent_input" : "marketplace_error";
    return settleFailed(fail(code, (error as Error).message, { paid: false }), (error as Error).message);
  }
  if (!build.ok) {
    const code = build.httpStatus >= 400 && build.httpStatus < 500 ? "invalid_agent_input" : "marketplace_error";
    return settleFailed(fail(code, build.error, { paid: false }), build.error);
  }

  // Step 8b: never sign blind.
  const verified =
    BigInt(build.amount_base) !== agentCost
      ? ({ ok: false, reason: `the intent is for ${build.amount_base} base units, the agent's price is ${agentCost}` } as const)
      : verifyPaymentTransaction(build.transaction, {
          wallet,
          usdcMint: deps.ledger.usdcMint,
          priceMicro: agentCost,
          recipients: [new PublicKey(agent.owner_wallet), deps.agents.protocolWallet],
        });
  if (!verified.ok) {
    log(`[tdk] request_id=${requestId} refused to sign a marketplace transaction for agent ${agent.name}: ${verified.reason}`);
    return settleFailed(
      fail("unsafe_transaction", `The marketplace built a payment this gateway will not sign: ${verified.reason}.`, { paid: false }),
      `refused to sign: ${verified.reason}`,
    );
  }
  const tx = verified.transaction;
  // When the payment can no longer land: without it, recovery could never conclude "not paid".
  const lastValidBlockHeight = await deps.ledger.lastValidBlockHeight(tx.recentBlockhash!);
  if (lastValidBlockHeight === null) {
    const message = "The marketplace built a payment on a blockhash this chain never handed out; nothing was paid.";
    return settleFailed(fail("unsafe_transaction", message, { paid: false }), message);
  }
  await deps.afterStep?.("built", usage.id);

  // Step 8c: decrypt the wallet for this signature only; record the signature before it leaves.
  const secret = await callFunction(deps.db, "tdk_get_wallet_secret", { p_key_id: key.key_id }, z.object({ public_key: z.string(), secret_encrypted: z.string() }));
  tx.sign(openKeypair(deps.ring, secret.secret_encrypted, secret.public_key));
  const signature = toBase58(tx.signature!);
  const recorded = await recordCallPayment(deps.db, usage.id, {
    paymentIntentId: build.payment_intent_id,
    txSignature: signature,
    recentBlockhash: tx.recentBlockhash!,
    lastValidBlockHeight,
  });
  if (!recorded.ok) {
    log(`[tdk] request_id=${requestId} marketplace built a payment identical to one already in flight (agent ${agent.name})`);
    const message = "The marketplace built a payment identical to another one in flight; nothing was paid. Retry.";
    return settleFailed(fail("marketplace_error", message, { paid: false }), message);
  }
  await deps.afterStep?.("signed", usage.id);

  // Step 8d: the marketplace submits the payment and calls the agent.
  let result: CallResult | null = null;
  let callError = "";
  try {
    result = await deps.agents.client.callAgent(build.payment_intent_id, tx.serialize().toString("base64"));
  } catch (error) {
    callError = (error as Error).message;
  }
  await deps.afterStep?.("submitted", usage.id);

  // Step 9: settle.
  if (result?.ok) {
    if (result.tx_signature !== signature) log(`[tdk] request_id=${requestId} marketplace reported signature ${result.tx_signature}, signed ${signature}`);
    const answer: CallAnswer = {
      status: 200,
      body: {
        success: true,
        output: result.output,
        usage: {
          request_id: requestId,
          agent_id: agent.id,
          agent_name: agent.name,
          agent_cost_usd: microToUsd(agentCost),
          markup_pct: deps.pricing.markupBps / 100,
          developer_cost_usd: microToUsd(developerCost),
          agent_cost_micro: Number(agentCost),
          developer_cost_micro: Number(developerCost),
          tier: usage.tier,
          tx_signature: signature,
          receipt_id: result.receipt_id ?? null,
        },
      },
    };
    await settleCall(deps.db, usage.id, { status: "succeeded", txSignature: signature, receiptId: result.receipt_id ?? null, response: answer }, deps.policy);
    await deps.afterStep?.("settled", usage.id);
    return answer;
  }

  // The call failed: whether it was paid is read from the chain, never assumed.
  const message = result && !result.ok ? result.error : `The marketplace did not answer: ${callError}`;
  const payment = await resolvePayment(deps.ledger, { signature, lastValidBlockHeight });
  if (payment === "paid") {
    const answer = fail("agent_failed", `The agent failed after it was paid: ${message}. This call is not billed to you.`, {
      paid: true,
      tx_signature: signature,
    });
    await settleCall(deps.db, usage.id, { status: "agent_failed", txSignature: signature, error: message, response: answer }, deps.policy);
    return answer;
  }
  if (payment === "not_paid") return settleFailed(fail("marketplace_error", message, { paid: false }), message);
  return fail("outcome_unknown", "The call's outcome is not known yet. Its payment is checked on the chain and never made twice; see your usage history.", {
    paid: null,
    tx_signature: signature,
  });
}
