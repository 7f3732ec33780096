// GET /api/tdk/v1/agents — the agent catalog with each agent's developer price and whether it can be called
import { agentCatalogSchema } from "@/lib/agents/catalog";
import { withPublic } from "@/lib/http/handlers";
import { clientIp } from "@/lib/http/request";
import { respond } from "@/lib/http/response";
import { catalogRateLimit } from "@/lib/ratelimit/policies";

export const GET = withPublic(async ({ app, services, request, limit }) => {
  await limit(catalogRateLimit, clientIp(request.headers, app.env.trustedProxyHops), { headers: true });
  return respond(agentCatalogSchema, await services.catalog.list());
});
