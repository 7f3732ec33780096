// GET /api/tdk/v1/agents — the agent catalog with each agent's developer price
import { developerCostMicro, microToUsd } from "@/lib/agents/pricing";
import { ApiError } from "@/lib/http/errors";
import { withPublic } from "@/lib/http/handlers";
import { clientIp } from "@/lib/http/request";
import { json } from "@/lib/http/response";

/** The catalog is public; each client IP may read it this often (headers on every answer). */
const catalogRateLimit = { name: "v1:agents", limit: 300, windowMs: 60_000 };

export const GET = withPublic(async ({ app, request, limit }) => {
  await limit(catalogRateLimit, clientIp(request.headers), { headers: true });
  const agents = await app.agents.client.listAgents().catch((error: Error) => {
    throw new ApiError("marketplace_error", `The agent marketplace is unavailable: ${error.message}`);
  });
  const markupBps = app.env.pricing.markupBps;
  return json({
    markup_pct: markupBps / 100,
    agents: agents
      .filter((agent) => agent.status === "active")
      .map((agent) => {
        const agentCost = BigInt(agent.price_base);
        const developerCost = developerCostMicro(agentCost, markupBps);
        return {
          id: agent.id,
          name: agent.name,
          description: agent.description,
          agent_cost_usd: microToUsd(agentCost),
          developer_price_usd: microToUsd(developerCost),
          developer_price_micro: Number(developerCost),
          input_schema: agent.input_schema ?? null,
          output_schema: agent.output_schema ?? null,
        };
      }),
  });
});
