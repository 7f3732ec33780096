import { z } from "zod";
import { openAgentBreakerRows } from "@/lib/calls/usage-store";
import type { Database } from "@/lib/db";
import { developerCostMicro } from "./pricing";
import type { MarketplaceAgent } from "./protocol";
import { microToUsd, USDC_DECIMALS, usdStringSchema } from "@/lib/money/units";

/** Why an agent in the catalog cannot be called through this gateway now. */
export const notCallableReasonSchema = z.enum(["not_priced_in_usdc", "price_above_maximum", "circuit_open"]);
export type NotCallableReason = z.infer<typeof notCallableReasonSchema>;

/** The catalog as `GET /v1/agents` answers it. */
export const agentCatalogSchema = z.object({
  markup_pct: z.number(),
  max_agent_price_usd: usdStringSchema.describe("Agents priced above this are never paid"),
  agents: z.array(
    z.object({
      id: z.string(),
      name: z.string(),
      description: z.string(),
      token: z.string().describe("The token the marketplace prices the agent in: only USDC-priced agents are callable here"),
      agent_type: z.string().describe("simple (runs up to 20 s), complex (120 s) or coordinator (180 s)"),
      agent_cost_usd: usdStringSchema.nullable().describe("Null when the agent is not priced in USDC"),
      developer_price_usd: usdStringSchema.nullable(),
      developer_price_micro: z.number().int().nullable(),
      callable: z.boolean().describe("Whether this gateway calls the agent now"),
      not_callable_reason: notCallableReasonSchema.nullable(),
      available_at: z.string().nullable().describe("While the agent is paused for failing after payment: when it is called again"),
      input_schema: z.unknown(),
      output_schema: z.unknown(),
    }),
  ),
});

export type AgentCatalog = z.infer<typeof agentCatalogSchema>;
export type CatalogEntry = AgentCatalog["agents"][number];

/** Agents cut off for failing after payment, with when they come back. */
export async function openAgentBreakers(db: Database): Promise<Map<string, string>> {
  const open = await openAgentBreakerRows(db);
  return new Map(open.map((entry) => [entry.agent_id, entry.open_until]));
}

/** Whether the marketplace prices this agent in the USDC this gateway pays with (mint and decimals both). */
export function pricedInUsdc(agent: MarketplaceAgent, usdcMint: string): boolean {
  return agent.token === "USDC" && agent.token_mint === usdcMint && agent.token_decimals === USDC_DECIMALS;
}

/** The catalog as developers see it: active agents, their price to you, and whether they can be called. */
export function catalogEntries(
  agents: MarketplaceAgent[],
  options: { markupBps: number; maxAgentPriceMicro: bigint; openBreakers: Map<string, string>; usdcMint: string },
): CatalogEntry[] {
  return agents
    .filter((agent) => agent.status === "active")
    .map((agent) => {
      const usdc = pricedInUsdc(agent, options.usdcMint);
      const agentCost = BigInt(agent.price_base);
      const developerCost = developerCostMicro(agentCost, options.markupBps);
      const availableAt = options.openBreakers.get(agent.id) ?? null;
      const reason: NotCallableReason | null = !usdc
        ? "not_priced_in_usdc"
        : agentCost > options.maxAgentPriceMicro
          ? "price_above_maximum"
          : availableAt
            ? "circuit_open"
            : null;
      return {
        id: agent.id,
        name: agent.name,
        description: agent.description,
        token: agent.token,
        agent_type: agent.agent_type,
        agent_cost_usd: usdc ? microToUsd(agentCost) : null,
        developer_price_usd: usdc ? microToUsd(developerCost) : null,
        developer_price_micro: usdc ? Number(developerCost) : null,
        callable: reason === null,
        not_callable_reason: reason,
        available_at: reason === "circuit_open" ? availableAt : null,
        input_schema: agent.input_schema ?? null,
        output_schema: agent.output_schema ?? null,
      };
    });
}
