// GET /api/metrics — Prometheus text: calls by outcome and agent, call latency, cap refusals, pending calls, unreported usage, breakers, treasury
import { withMetricsToken } from "@/lib/http/handlers";
import { PROMETHEUS_CONTENT_TYPE } from "@/lib/ops/metrics";

export const dynamic = "force-dynamic";

export const GET = withMetricsToken(
  async ({ services }) =>
    new Response(await services.ops.metrics(), { headers: { "content-type": PROMETHEUS_CONTENT_TYPE, "cache-control": "no-store" } }),
);
