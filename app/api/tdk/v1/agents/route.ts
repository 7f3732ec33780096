// GET /api/tdk/v1/agents — the agent catalog with each agent's developer price and whether it can be called
import { catalogEntries, openAgentBreakers } from "@/lib/agents/catalog";
import { microToUsd } from "@/lib/money/units";
import { ApiError } from "@/lib/http/errors";
import { withPublic } from "@/lib/http/handlers";
import { clientIp } from "@/lib/http/request";
import { json } from "@/lib/http/response";
import { catalogRateLimit } from "@/lib/ratelimit/policies";

export const GET = withPublic(async ({ app, request, limit }) => {
  await limit(catalogRateLimit, clientIp(request.headers, app.env.trustedProxyHops), { headers: true });
  const [agents, openBreakers] = await Promise.all([
    app.agents.client.listAgents().catch((error: Error) => {
      throw new ApiError("marketplace_error", `The agent marketplace is unavailable: ${error.message}`);
    }),
    openAgentBreakers(app.db),
  ]);
  const markupBps = app.env.pricing.markupBps;
  return json({
    markup_pct: markupBps / 100,
    max_agent_price_usd: microToUsd(app.env.limits.maxAgentPriceMicro),
    agents: catalogEntries(agents, {
      markupBps,
      maxAgentPriceMicro: app.env.limits.maxAgentPriceMicro,
      openBreakers,
      usdcMint: app.ledger.usdcMint.toBase58(),
    }),
  });
});
