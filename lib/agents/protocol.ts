import { z } from "zod";

/**
 * The agent marketplace's HTTP protocol (Tetto), as the gateway speaks it. Field names are the
 * marketplace's. Amounts are in the token's base units (USDC: micro-USD).
 */
export const agentSchema = z.object({
  id: z.string().min(1),
  name: z.string().min(1),
  description: z.string().optional().default(""),
  endpoint_url: z.string().optional().default(""),
  price_base: z.coerce.number().int().nonnegative(),
  token: z.string(),
  token_mint: z.string(),
  token_decimals: z.number().int(),
  input_schema: z.unknown().optional(),
  output_schema: z.unknown().optional(),
  owner_wallet: z.string(),
  fee_bps: z.number().int().min(0).max(10_000).default(0),
  status: z.string().default("active"),
});
export type MarketplaceAgent = z.infer<typeof agentSchema>;

export const listAgentsResponseSchema = z.object({ ok: z.literal(true), agents: z.array(agentSchema) });
export const getAgentResponseSchema = z.object({ ok: z.literal(true), agent: agentSchema });

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
    output: z.unknown(),
    tx_signature: z.string(),
    receipt_id: z.string().nullish(),
    agent_received: z.coerce.number().optional(),
    protocol_fee: z.coerce.number().optional(),
  }),
  z.object({ ok: z.literal(false), error: z.string().default("Agent call failed"), tx_signature: z.string().nullish() }),
]);

/** What the marketplace sends an agent, signed with `X-Tetto-Signature`. */
export interface AgentRequestBody {
  input: unknown;
  tetto_context: { caller_wallet: string; caller_agent_id: string | null; intent_id: string; timestamp: number; version: string };
}
