import { z } from "zod";
import { callFunction, type Database } from "@/lib/db";
import { developerCostMicro } from "./pricing";
import { microToUsd } from "@/lib/money/units";
import type { MarketplaceAgent } from "./protocol";
import { USDC_DECIMALS } from "@/lib/money/units";

/** Why an agent in the catalog cannot be called through this gateway now. */
export type NotCallableReason = "not_priced_in_usdc" | "price_above_maximum" | "circuit_open";

export interface CatalogEntry {
  id: string;
  name: string;
  description: string;
  /** The token the marketplace prices the agent in ("USDC", "SOL", …). */
  token: string;
  agent_type: string;
  /** Null when the agent is not priced in this gateway's USDC: a price in lamports is never shown as dollars. */
  agent_cost_usd: string | null;
  developer_price_usd: string | null;
  developer_price_micro: number | null;
  callable: boolean;
  not_callable_reason: NotCallableReason | null;
  /** While the circuit is open: when calls are admitted again. */
  available_at: string | null;
  input_schema: unknown;
  output_schema: unknown;
}

const openBreakersSchema = z.array(z.object({ agent_id: z.string(), open_until: z.string() }));

/** Agents cut off for failing after payment, with when they come back. */
export async function openAgentBreakers(db: Database): Promise<Map<string, string>> {
  const open = await callFunction(db, "tdk_open_agent_breakers", {}, openBreakersSchema);
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
