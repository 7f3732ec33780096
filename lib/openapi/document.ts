import { z } from "zod";
import { errorStatus } from "./error-codes";
import { routeContracts, type RouteContract } from "./contracts";
import { errorBodySchema } from "./error-codes";

type JsonSchema = Record<string, unknown>;

/** JSON Schema 2020-12 (what OpenAPI 3.1 speaks) of a zod schema: the request as sent, the response as answered. */
export function jsonSchemaOf(schema: z.ZodType, io: "input" | "output"): JsonSchema {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { target: "draft-2020-12", io, unrepresentable: "any" }) as JsonSchema;
  return rest;
}

const rateLimitHeaders = {
  "X-RateLimit-Limit": { description: "Requests allowed per minute for this key's tier", schema: { type: "integer" } },
  "X-RateLimit-Remaining": { description: "Requests left in the current window", schema: { type: "integer" } },
  "X-RateLimit-Reset": { description: "Unix time (seconds) when the window frees up", schema: { type: "integer" } },
  "X-Request-Id": { description: "Quote it when you contact us", schema: { type: "string" } },
};

const statusText: Record<number, string> = {
  400: "Invalid request",
  401: "Not authenticated",
  402: "Payment required (quota, allowance, balance, card, spend limit, max cost)",
  403: "Forbidden (suspended account, agent not callable, cross-site request)",
  404: "Not found",
  409: "Conflict",
  413: "Body too large",
  415: "Body is not JSON",
  422: "Idempotency-Key reused with another body",
  429: "Rate or daily limit reached (see Retry-After)",
  502: "Marketplace or agent failure",
  503: "Unavailable (or agent paused: see Retry-After)",
};

function operation(contract: RouteContract) {
  const parameters = [
    ...Object.entries((contract.params?.shape ?? {}) as Record<string, z.ZodType>).map(([name, schema]) => ({
      name,
      in: "path",
      required: true,
      schema: jsonSchemaOf(schema, "input"),
    })),
    ...Object.entries((contract.query?.shape ?? {}) as Record<string, z.ZodType>).map(([name, schema]) => ({
      name,
      in: "query",
      required: !schema.safeParse(undefined).success,
      schema: jsonSchemaOf(schema, "input"),
    })),
    ...(contract.headers ?? []).map((header) => ({
      name: header.name,
      in: "header",
      required: false,
      description: header.description,
      schema: jsonSchemaOf(header.schema, "input"),
    })),
  ];
  const headers =
    contract.auth === "api_key" || contract.path === "/api/tdk/v1/agents"
      ? rateLimitHeaders
      : { "X-Request-Id": rateLimitHeaders["X-Request-Id"] };
  const successSchema = jsonSchemaOf(contract.success.schema, "output");
  return {
    operationId: `${contract.method}${contract.path.replace(/[^a-zA-Z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ""))}`,
    summary: contract.summary,
    tags: contract.tags,
    security:
      contract.auth === "none" ? [] : contract.auth === "api_key" ? [{ apiKey: [] }] : [{ sessionToken: [] }, { sessionCookie: [] }],
    ...(parameters.length > 0 && { parameters }),
    ...(contract.body && {
      requestBody: { required: !contract.bodyOptional, content: { "application/json": { schema: jsonSchemaOf(contract.body, "input") } } },
    }),
    responses: {
      [String(contract.success.status)]: {
        description: contract.success.description,
        headers,
        content: Object.fromEntries(
          (contract.success.contentTypes ?? ["application/json"]).map((type) => [
            type,
            type === "text/csv" ? { schema: { type: "string" } } : { schema: successSchema },
          ]),
        ),
      },
      ...Object.fromEntries(
        contract.errors.map((status) => [
          String(status),
          {
            description: statusText[status] ?? "Error",
            headers,
            content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
          },
        ]),
      ),
    },
  };
}

/**
 * The OpenAPI 3.1 document of the public API, generated from the route contracts. It depends on
 * nothing but them, so it is built once per process; only `servers` (this gateway's origin)
 * changes per request.
 */
export function buildOpenApiDocument(serverUrl?: string) {
  const base = (cachedDocument ??= buildBaseDocument());
  return serverUrl ? { ...base, servers: [{ url: serverUrl }] } : base;
}

/** The document as JSON text: serialised once, the origin added per request (measured: building it per request cost ~3.5 ms). */
export function openApiJson(serverUrl?: string): string {
  const text = (cachedJson ??= JSON.stringify(buildOpenApiDocument()));
  return serverUrl ? `${text.slice(0, -1)},"servers":${JSON.stringify([{ url: serverUrl }])}}` : text;
}

let cachedDocument: ReturnType<typeof buildBaseDocument> | null = null;
let cachedJson: string | null = null;

function buildBaseDocument() {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const contract of routeContracts) (paths[contract.path] ??= {})[contract.method] = operation(contract);
  return {
    openapi: "3.1.0",
    info: {
      title: "TDK gateway API",
      version: "1.0.0",
      description:
        "Call paid AI agents with a Bearer API key. Money is integer micro-USD; amounts in *_usd fields are exact decimal strings.",
    },
    tags: [...new Set(routeContracts.flatMap((contract) => contract.tags))].map((name) => ({ name })),
    paths,
    components: {
      securitySchemes: {
        apiKey: { type: "http", scheme: "bearer", description: "Your API key: tk_live_… or tk_test_…" },
        sessionToken: { type: "http", scheme: "bearer", description: "session_token from POST /api/tdk/auth/login" },
        sessionCookie: {
          type: "apiKey",
          in: "cookie",
          name: "tdk_session",
          description: "The web pages' session cookie (state changes need a same-origin Origin)",
        },
      },
      schemas: {
        Error: {
          ...jsonSchemaOf(errorBodySchema, "output"),
          description: `Error codes: ${Object.entries(errorStatus)
            .map(([code, status]) => `${code} (${status})`)
            .join(", ")}`,
        },
      },
    },
  };
}
