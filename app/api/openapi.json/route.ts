// GET /api/openapi.json — the OpenAPI 3.1 document of the public API, generated from the route contracts
import { withPublic } from "@/lib/http/handlers";
import { expectedOrigin } from "@/lib/http/request";
import { openApiJson } from "@/lib/openapi/document";

export const GET = withPublic(
  async ({ request, app }) =>
    new Response(openApiJson(expectedOrigin(request, app.env.appUrl) ?? undefined), {
      headers: { "content-type": "application/json", "cache-control": "no-store" },
    }),
);
