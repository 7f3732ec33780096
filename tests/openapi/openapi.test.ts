import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import Ajv2020 from "ajv/dist/2020";
import addFormats from "ajv-formats";
import * as openapiRoute from "@/app/api/openapi.json/route";
import type { AppContext } from "@/lib/context";
import { routeContracts } from "@/lib/openapi/contracts";
import { buildOpenApiDocument, openApiJson } from "@/lib/openapi/document";
import { callRoute, createKeyedAccount, createTestApp, strongPassword, uniqueEmail } from "../helpers/app";

const root = path.resolve(__dirname, "..", "..");
const schemasDir = path.join(root, "node_modules", "@apidevtools", "openapi-schemas", "schemas", "v3.1");
/** Routes for machines other than developers' programs: Vercel cron, the metrics scraper and Stripe. */
const INTERNAL = [/^\/api\/cron\//, /^\/api\/webhooks\//, /^\/api\/metrics$/];

async function routeFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const nested = await Promise.all(
    entries.map((entry) =>
      entry.isDirectory()
        ? routeFiles(path.join(dir, entry.name))
        : Promise.resolve(entry.name === "route.ts" ? [path.join(dir, entry.name)] : []),
    ),
  );
  return nested.flat();
}

/** Every (METHOD path) the app serves under /api, from the route files themselves. */
async function servedOperations(): Promise<string[]> {
  const operations: string[] = [];
  for (const file of await routeFiles(path.join(root, "app", "api"))) {
    const route = `/${path
      .relative(path.join(root, "app"), path.dirname(file))
      .split(path.sep)
      .join("/")
      .replace(/\[(\w+)\]/g, "{$1}")}`;
    if (INTERNAL.some((pattern) => pattern.test(route))) continue;
    const source = await readFile(file, "utf8");
    for (const [, method] of source.matchAll(/export const (GET|POST|PUT|PATCH|DELETE) =/g))
      operations.push(`${method!.toLowerCase()} ${route}`);
  }
  return operations.sort();
}

let app: AppContext;
let document: ReturnType<typeof buildOpenApiDocument>;
let ajv: Ajv2020;

beforeAll(async () => {
  app = await createTestApp();
  document = (await callRoute(openapiRoute.GET, "GET", "/api/openapi.json")).json;
  ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addFormat("media-range", true); // an OAS 3.1 format for content types; not checked here
  for (const file of ["meta/base.schema.json", "dialect/base.schema.json"]) {
    try {
      ajv.addSchema(JSON.parse(await readFile(path.join(schemasDir, file), "utf8")));
    } catch {
      // the package may lay these out differently; the main schema below is what validates
    }
  }
});

describe("GET /api/openapi.json", () => {
  it("is a valid OpenAPI 3.1 document", async () => {
    // The official OAS 3.1 schema. Its Schema Objects are `$dynamicRef: "#meta"`, resolving (in this
    // schema, nothing overrides the anchor) to `$defs/schema`; Ajv resolves dynamic anchors only at a
    // schema's root, so the reference is made static, with the same meaning.
    const raw = (await readFile(path.join(schemasDir, "schema.json"), "utf8")).replaceAll(
      '"$dynamicRef": "#meta"',
      '"$ref": "#/$defs/schema"',
    );
    const validate = ajv.compile(JSON.parse(raw));
    const valid = validate(document);
    expect(validate.errors ?? []).toEqual([]);
    expect(valid).toBe(true);
    expect(document.openapi).toBe("3.1.0");
    // And every embedded Schema Object is itself valid JSON Schema 2020-12 (Ajv refuses to compile one that is not).
    const schemas: unknown[] = [];
    JSON.stringify(document, (key, value) => {
      if (key === "schema" && value && typeof value === "object" && !("$ref" in value)) schemas.push(value);
      return value;
    });
    expect(schemas.length).toBeGreaterThan(20);
    for (const schema of schemas) expect(() => ajv.compile(schema as object)).not.toThrow();
  });

  it("is built once per process; each answer carries the caller's origin", () => {
    expect(buildOpenApiDocument()).toBe(buildOpenApiDocument());
    expect(JSON.parse(openApiJson("https://gateway.example"))).toEqual(buildOpenApiDocument("https://gateway.example"));
    expect((document as { servers?: unknown }).servers).toEqual([{ url: "http://localhost:3000" }]);
  });

  it("lists every public route the app serves, and nothing it does not", async () => {
    const documented = Object.entries(document.paths)
      .flatMap(([route, operations]) => Object.keys(operations as object).map((method) => `${method} ${route}`))
      .sort();
    expect(documented).toEqual(await servedOperations());
  });

  it("every request schema in the document is the one its route enforces", async () => {
    const caller = await createKeyedAccount(app);
    const email = uniqueEmail("openapi");
    const { POST: register } = await import("@/app/api/tdk/auth/register/route");
    const { POST: login } = await import("@/app/api/tdk/auth/login/route");
    await callRoute(register, "POST", "/", { body: { email, password: strongPassword } });
    const session = (await callRoute(login, "POST", "/", { body: { email, password: strongPassword } })).json.session_token;

    for (const contract of routeContracts) {
      const operation = (document.paths as any)[contract.path][contract.method];
      const modulePath = `@/app${contract.path.replace(/\{(\w+)\}/g, "[$1]")}/route`;
      const route = await import(/* @vite-ignore */ modulePath);
      const handler = route[contract.method.toUpperCase()];
      expect(handler, `${contract.method} ${contract.path}`).toBeTypeOf("function");
      const auth = contract.auth === "api_key" ? { bearer: caller.apiKey } : contract.auth === "session" ? { bearer: session } : {};

      if (operation.requestBody) {
        // An empty object: the route's refusal names exactly the properties the document requires.
        const required: string[] = operation.requestBody.content["application/json"].schema.required ?? [];
        const res = await callRoute(handler, contract.method.toUpperCase(), contract.path, {
          ...auth,
          body: {},
          params: { id: caller.key.id },
        });
        if (required.length > 0) {
          expect(res.status, `${contract.path} {}`).toBe(400);
          expect(Object.keys(res.json.error.fields).sort(), contract.path).toEqual([...required].sort());
        } else {
          expect(res.json?.error?.code, contract.path).not.toBe("validation_failed");
        }
        // A property the document does not list is refused (the schemas are strict).
        const extra = await callRoute(handler, contract.method.toUpperCase(), contract.path, {
          ...auth,
          body: { undocumented_field: 1 },
          params: { id: caller.key.id },
        });
        expect(extra.status, `${contract.path} extra field`).toBe(400);
      }
      const queryParams = (operation.parameters ?? []).filter((p: { in: string }) => p.in === "query").map((p: { name: string }) => p.name);
      if (contract.query) {
        expect(queryParams.sort()).toEqual(Object.keys(contract.query.shape).sort());
        const bogus = await callRoute(handler, "GET", `${contract.path}?undocumented=1`, auth);
        expect(bogus.status, `${contract.path}?undocumented`).toBe(400);
      }
    }
  });

  it("every success answer matches the response schema the document gives", async () => {
    const caller = await createKeyedAccount(app);
    const email = uniqueEmail("shapes");
    const check = (contractPath: string, method: string, body: unknown) => {
      const operation = (document.paths as any)[contractPath][method];
      const [status] = Object.keys(operation.responses);
      const validate = ajv.compile(operation.responses[status!].content["application/json"].schema);
      expect(validate(body), `${method} ${contractPath}: ${JSON.stringify(validate.errors)}`).toBe(true);
    };
    const { POST: register } = await import("@/app/api/tdk/auth/register/route");
    const { POST: login } = await import("@/app/api/tdk/auth/login/route");
    const keys = await import("@/app/api/tdk/keys/route");
    const generate = await import("@/app/api/tdk/keys/generate/route");
    const one = await import("@/app/api/tdk/keys/[id]/route");
    const call = await import("@/app/api/tdk/v1/call/route");
    const agents = await import("@/app/api/tdk/v1/agents/route");
    const keyUsage = await import("@/app/api/tdk/v1/usage/route");
    const accountUsage = await import("@/app/api/tdk/usage/route");
    const health = await import("@/app/api/health/route");

    check("/api/tdk/auth/register", "post", (await callRoute(register, "POST", "/", { body: { email, password: strongPassword } })).json);
    const session = (await callRoute(login, "POST", "/", { body: { email, password: strongPassword } })).json;
    check("/api/tdk/auth/login", "post", session);
    const created = (await callRoute(generate.POST, "POST", "/", { bearer: session.session_token, body: { name: "doc" } })).json;
    check("/api/tdk/keys/generate", "post", created);
    check("/api/tdk/keys", "get", (await callRoute(keys.GET, "GET", "/", { bearer: session.session_token })).json);
    check(
      "/api/tdk/keys/{id}",
      "get",
      (await callRoute(one.GET, "GET", "/", { bearer: session.session_token, params: { id: created.key.id } })).json,
    );
    const paid = await callRoute(call.POST, "POST", "/", {
      bearer: caller.apiKey,
      body: { agent_id: "warmmemory", input: { action: "store", key: "k", value: "v" } },
    });
    check("/api/tdk/v1/call", "post", paid.json);
    const readBack = await import("@/app/api/tdk/v1/calls/[request_id]/route");
    check(
      "/api/tdk/v1/calls/{request_id}",
      "get",
      (await callRoute(readBack.GET, "GET", "/", { bearer: caller.apiKey, params: { request_id: paid.json.usage.request_id } })).json,
    );
    check("/api/tdk/v1/agents", "get", (await callRoute(agents.GET, "GET", "/")).json);
    check("/api/tdk/v1/usage", "get", (await callRoute(keyUsage.GET, "GET", "/api/tdk/v1/usage", { bearer: caller.apiKey })).json);
    check("/api/tdk/usage", "get", (await callRoute(accountUsage.GET, "GET", "/api/tdk/usage", { bearer: session.session_token })).json);
    check("/api/health", "get", (await callRoute(health.GET, "GET", "/")).json);
    check(
      "/api/tdk/keys/{id}",
      "delete",
      (await callRoute(one.DELETE, "DELETE", "/", { bearer: session.session_token, params: { id: created.key.id } })).json,
    );

    // Errors too: the common shape.
    const refused = await callRoute(call.POST, "POST", "/", { bearer: caller.apiKey, body: {} });
    const validateError = ajv.compile({ ...(document.components.schemas.Error as object) });
    expect(validateError(refused.json)).toBe(true);
  });
});
