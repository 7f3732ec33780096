import { z } from "zod";
import { callFunction, type Database } from "@/lib/db";
import { developerCostMicro, microToUsd } from "./pricing";
import type { MarketplaceAgent } from "./protocol";

/** Why an agent in the catalog cannot be called through this gateway now. */
export type NotCallableReason = "price_above_maximum" | "circuit_open";

export interface CatalogEntry {
  id: string;
  name: string;
  description: string;
  agent_cost_usd: string;
  developer_price_usd: string;
  developer_price_micro: number;
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

/** The catalog as developers see it: active agents, their price to you, and whether they can be called. */
export function catalogEntries(
  agents: MarketplaceAgent[],
  options: { markupBps: number; maxAgentPriceMicro: bigint; openBreakers: Map<string, string> },
): CatalogEntry[] {
  return agents
    .filter((agent) => agent.status === "active")
    .map((agent) => {
      const agentCost = BigInt(agent.price_base);
      const developerCost = developerCostMicro(agentCost, options.markupBps);
      const availableAt = options.openBreakers.get(agent.id) ?? null;
      const reason: NotCallableReason | null = agentCost > options.maxAgentPriceMicro ? "price_above_maximum" : availableAt ? "circuit_open" : null;
      return {
        id: agent.id,
        name: agent.name,
        description: agent.description,
        agent_cost_usd: microToUsd(agentCost),
        developer_price_usd: microToUsd(developerCost),
        developer_price_micro: Number(developerCost),
        callable: reason === null,
        not_callable_reason: reason,
        available_at: reason === "circuit_open" ? availableAt : null,
        input_schema: agent.input_schema ?? null,
        output_schema: agent.output_schema ?? null,
      };
    });
}
