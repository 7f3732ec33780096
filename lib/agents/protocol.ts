import { z } from "zod";

/**
 * The agent marketplace's HTTP protocol (Tetto), as the gateway speaks it. Field names are the
 * marketplace's. Amounts are in the token's base units (USDC: micro-USD).
 */
/** Agent types and how long the marketplace lets each run (tetto-sdk docs: simple 20 s, complex 120 s, coordinator 180 s). */
export const AGENT_TYPE_TIMEOUT_MS = { simple: 20_000, complex: 120_000, coordinator: 180_000 } as const;
export type AgentType = keyof typeof AGENT_TYPE_TIMEOUT_MS;

/** A whole number of base units, as a JSON number or a digit string; never null (a null price is not a free agent). */
const baseUnits = z.union([
  z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  z
    .string()
    .regex(/^\d{1,15}$/)
    .transform(Number),
]);
/** Optional fields may come as null: they take the SDK's defaults. */
const orDefault = <T extends z.ZodType, D>(schema: T, fallback: D) =>
  schema.nullish().transform((value) => (value ?? fallback) as z.infer<T> | D);

export const agentSchema = z.object({
  id: z.string().min(1),
  name: z.string().min(1),
  description: orDefault(z.string(), ""),
  endpoint_url: orDefault(z.string(), ""),
  price_base: baseUnits,
  /** "USDC" or "SOL"; a SOL-priced agent's price_base is in lamports. */
  token: z.string().min(1),
  token_mint: orDefault(z.string(), ""),
  token_decimals: orDefault(z.number().int().min(0).max(18), null),
  input_schema: orDefault(z.unknown(), {}),
  output_schema: orDefault(z.unknown(), {}),
  owner_wallet: z.string().min(32).max(44),
  // tetto-sdk builds the protocol's share with `agent.fee_bps || 1000`: 10% unless the agent says otherwise.
  fee_bps: orDefault(z.number().int().min(0).max(10_000), 1_000),
  status: orDefault(z.string(), "active"),
  /** Unknown or missing types are treated by `agentTimeoutMs`: missing is "simple", unknown gets the longest. */
  agent_type: orDefault(z.string(), "simple"),
});
export type MarketplaceAgent = z.infer<typeof agentSchema>;

/** How long the marketplace may run this agent before it gives up. An unknown type gets the longest wait: giving up early after payment loses a paid answer. */
export function agentTimeoutMs(agent: Pick<MarketplaceAgent, "agent_type">): number {
  const type = agent.agent_type as AgentType;
  return AGENT_TYPE_TIMEOUT_MS[type] ?? AGENT_TYPE_TIMEOUT_MS.coordinator;
}

/** The catalog is read agent by agent: one malformed entry must not hide the others. */
export const listAgentsResponseSchema = z.object({ ok: z.literal(true), agents: z.array(z.unknown()) });

/** `GET /api/receipts/{id}`: the marketplace's record of a paid call, with the agent's output. */
export const receiptResponseSchema = z.object({
  ok: z.literal(true),
  receipt: z.object({
    id: z.string(),
    tx_signature: z.string(),
    caller_wallet: z.string(),
    output_data: z.unknown(),
    agent: z.object({ id: z.string() }).passthrough().nullish(),
  }),
});
export type Receipt = z.infer<typeof receiptResponseSchema>["receipt"];

export const buildTransactionRequestSchema = z.object({
  payer_wallet: z.string(),
  selected_token: z.literal("USDC"),
  input: z.unknown(),
});

export const buildTransactionResponseSchema = z.union([
  z.object({
    ok: z.literal(true),
    transaction: z.string().min(1),
    payment_intent_id: z.string().min(1),
    amount_base: z.coerce.number().int().nonnegative(),
    expires_at: z.string().optional(),
  }),
  z.object({ ok: z.literal(false), error: z.string().default("Marketplace refused to build the transaction") }),
]);

export const callRequestSchema = z.object({ payment_intent_id: z.string(), signed_transaction: z.string() });

export const callResponseSchema = z.union([
  z.object({
    ok: z.literal(true),
    // When absent, the output is read from the marketplace's receipt of the payment (receipt_id).
    output: z.unknown().optional(),
    tx_signature: z.string(),
    receipt_id: z.string().nullish(),
    agent_received: z.coerce.number().optional(),
    protocol_fee: z.coerce.number().optional(),
  }),
  z.object({
    ok: z.literal(false),
    error: z.string().default("Agent call failed"),
    tx_signature: z.string().nullish(),
    receipt_id: z.string().nullish(),
  }),
]);

/** What the marketplace sends an agent, signed with `X-Tetto-Signature`. */
export interface AgentRequestBody {
  input: unknown;
  tetto_context: { caller_wallet: string; caller_agent_id: string | null; intent_id: string; timestamp: number; version: string };
}
