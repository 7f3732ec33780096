import type { Metadata } from "next";
import { headers } from "next/headers";
import Link from "next/link";
import type { NotCallableReason } from "@/lib/agents/catalog";
import { microToUsd } from "@/lib/money/units";
import { getPageSession } from "@/lib/http/page-session";
import { errorDocs } from "@/lib/http/error-docs";
import { errorStatus, type ErrorCode } from "@/lib/http/errors";
import { expectedOrigin } from "@/lib/http/request";
import { buildOpenApiDocument } from "@/lib/openapi/document";
import { getServices } from "@/lib/services";

export const metadata: Metadata = { title: "Docs · TDK gateway" };
export const dynamic = "force-dynamic";

interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  description?: string;
  enum?: unknown[];
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
}

const notCallableText: Record<NotCallableReason, (availableAt: string | null) => string> = {
  not_priced_in_usdc: () => "no (not priced in USDC)",
  price_above_maximum: () => "no (price above the maximum)",
  circuit_open: (availableAt) => `paused until ${availableAt}`,
};

function typeOf(schema: JsonSchema | undefined): string {
  if (!schema) return "any";
  if (schema.enum) return schema.enum.map((value) => JSON.stringify(value)).join(" | ");
  if (schema.type) return Array.isArray(schema.type) ? schema.type.join(" | ") : schema.type;
  const options = schema.anyOf ?? schema.oneOf;
  if (options) return options.map(typeOf).join(" | ");
  return "any";
}

export default async function DocsPage() {
  const services = await getServices();
  const { app } = services;
  const session = await getPageSession();
  const requestHeaders = await headers();
  const origin =
    app.env.appUrl ?? expectedOrigin(new Request("http://localhost/", { headers: requestHeaders }), null) ?? "http://localhost:3000";
  const keys = session ? (await services.keys.list(session.account.id, { fromChain: false })).filter((key) => key.status === "active") : [];
  const keyHint = keys[0] ? `${keys[0].prefix}…` : `tk_${app.env.keys.mode}_…`;
  // The docs still render when the marketplace is down: the table is then empty.
  const catalog = (await services.catalog.list().catch(() => null))?.agents ?? [];
  const document = buildOpenApiDocument(origin);
  const example = catalog.find((agent) => agent.name === "warmmemory") ?? catalog[0];
  const exampleInput =
    example?.name === "warmmemory" ? { action: "store", key: "user:prefs", value: '{"theme":"dark"}' } : { text: "Hello!" };
  const body = JSON.stringify({ agent_id: example?.name ?? "AGENT", input: exampleInput });

  const curl = `export TDK_KEY='${keyHint}'   # paste your full key here
curl -X POST ${origin}/api/tdk/v1/call \\
  -H "Authorization: Bearer $TDK_KEY" \\
  -H 'Content-Type: application/json' \\
  -H 'Idempotency-Key: my-first-call' \\
  -d '${body}'`;
  const typescript = `const TDK_KEY = process.env.TDK_KEY!; // starts with ${keyHint}

const response = await fetch("${origin}/api/tdk/v1/call", {
  method: "POST",
  headers: { Authorization: \`Bearer \${TDK_KEY}\`, "Content-Type": "application/json" },
  body: JSON.stringify(${JSON.stringify(JSON.parse(body), null, 2).replace(/\n/g, "\n  ")}),
});
const result = await response.json();
if (!response.ok) throw new Error(\`\${result.error.code}: \${result.error.message}\`);
console.log(result.output, result.usage.developer_cost_usd);`;

  return (
    <>
      <h1>Docs</h1>
      <nav aria-label="On this page">
        <ul>
          <li>
            <a href="#quickstart">Quickstart</a>
          </li>
          <li>
            <a href="#agents">Agents and prices</a>
          </li>
          <li>
            <a href="#headers">Rate limits, idempotency, request ids</a>
          </li>
          <li>
            <a href="#errors">Errors</a>
          </li>
          <li>
            <a href="#reference">API reference</a>
          </li>
        </ul>
      </nav>

      <section aria-labelledby="quickstart">
        <h2 id="quickstart">Quickstart</h2>
        <ol>
          <li>
            {session ? (
              <Link href="/dashboard">Open your dashboard</Link>
            ) : (
              <>
                <Link href="/signup">Sign up</Link> and log in
              </>
            )}
            .
          </li>
          <li>Create an API key: it is shown once, with its own funded wallet.</li>
          <li>Call an agent:</li>
        </ol>
        <h3>curl</h3>
        <pre data-testid="quickstart-curl">
          <code>{curl}</code>
        </pre>
        <h3>TypeScript (fetch)</h3>
        <pre data-testid="quickstart-ts">
          <code>{typescript}</code>
        </pre>
      </section>

      <section aria-labelledby="agents">
        <h2 id="agents">Agents and prices</h2>
        <p>
          Your price is the agent&apos;s price plus {app.env.pricing.markupBps / 100}%, rounded up to the micro-dollar. Use the name or the
          id as agent_id. Agents priced above ${microToUsd(app.env.limits.maxAgentPriceMicro)} a call are not called; an agent that keeps
          failing after being paid is paused for a while.
        </p>
        <table>
          <thead>
            <tr>
              <th scope="col">Agent</th>
              <th scope="col">What it does</th>
              <th scope="col">Your price per call</th>
              <th scope="col">Callable</th>
              <th scope="col">Id</th>
            </tr>
          </thead>
          <tbody>
            {catalog.map((agent) => (
              <tr key={agent.id} data-testid="agent-row">
                <td>
                  <strong>{agent.name}</strong>
                </td>
                <td>{agent.description}</td>
                <td>{agent.developer_price_usd === null ? `— (priced in ${agent.token})` : `$${agent.developer_price_usd}`}</td>
                <td>{agent.callable ? "yes" : notCallableText[agent.not_callable_reason!](agent.available_at)}</td>
                <td className="mono">{agent.id}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>

      <section aria-labelledby="headers">
        <h2 id="headers">Rate limits, idempotency, request ids</h2>
        <dl>
          <dt>
            <code>X-RateLimit-Limit</code>, <code>X-RateLimit-Remaining</code>, <code>X-RateLimit-Reset</code>
          </dt>
          <dd>
            On every <code>/v1</code> answer: requests per minute for your tier (free 100, paid 1,000, pro 10,000), what is left, and when
            the window frees up (Unix seconds). Over the limit: <code>429</code> with <code>Retry-After</code> in seconds.
          </dd>
          <dt>The marketplace&apos;s own limit on agent calls</dt>
          <dd>
            {app.env.agentCalls.walletCallsPerMinute === null
              ? "The marketplace limits agent calls per wallet (the real one: 10 a minute); this gateway is configured without that limit."
              : `The marketplace allows each wallet ${app.env.agentCalls.walletCallsPerMinute} agent calls a minute, and every key has its own wallet: whatever your tier, one key makes at most that many paid calls a minute.`}{" "}
            Past it: <code>429 marketplace_rate_limited</code> with <code>Retry-After</code>, nothing paid. Spread heavy traffic over
            several keys.
          </dd>
          <dt>
            <code>Idempotency-Key</code> (request)
          </dt>
          <dd>
            Any string up to 255 characters. The same key with the same body returns the first answer and pays nothing again (
            <code>Idempotent-Replayed: true</code>); another body gets <code>422</code>; while the first request runs, <code>409</code>.
          </dd>
          <dt>
            <code>max_cost_usd</code> (body) and spend limits
          </dt>
          <dd>
            Send <code>&quot;max_cost_usd&quot;: &quot;0.01&quot;</code> with a call and a pricier agent is refused (
            <code>402 max_cost_exceeded</code>) before anything is paid. A key&apos;s spend limit (keys page, or{" "}
            <code>PATCH /api/tdk/keys/{"{id}"}</code>) bounds what it can cost you per UTC day, week, month or in total: a leaked key costs
            at most its limit.
          </dd>
          <dt>
            <code>X-Request-Id</code>
          </dt>
          <dd>
            On every answer, and in every error body as <code>error.request_id</code>. Quote it when you contact us.
          </dd>
        </dl>
      </section>

      <section aria-labelledby="errors">
        <h2 id="errors">Errors</h2>
        <p>
          Every error has one shape: <code>{`{"error": {"code", "message", "request_id", ...}}`}</code>.
        </p>
        <table>
          <thead>
            <tr>
              <th scope="col">Code</th>
              <th scope="col">Status</th>
              <th scope="col">Meaning</th>
              <th scope="col">What to do</th>
            </tr>
          </thead>
          <tbody>
            {(Object.keys(errorDocs) as ErrorCode[]).map((code) => (
              <tr key={code} data-testid="error-row">
                <td className="mono">{code}</td>
                <td>{errorStatus[code]}</td>
                <td>{errorDocs[code].meaning}</td>
                <td>{errorDocs[code].action}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>

      <section aria-labelledby="reference">
        <h2 id="reference">API reference</h2>
        <p>
          Generated from the same schemas the routes validate with: <a href="/api/openapi.json">/api/openapi.json</a> (OpenAPI{" "}
          {document.openapi}).
        </p>
        {Object.entries(document.paths).flatMap(([path, operations]) =>
          Object.entries(
            operations as Record<
              string,
              {
                summary: string;
                security: Record<string, unknown>[];
                parameters?: { name: string; in: string; required: boolean; schema: JsonSchema }[];
                requestBody?: { content: Record<string, { schema: JsonSchema }> };
                responses: Record<string, { description: string }>;
              }
            >,
          ).map(([method, operation]) => {
            const bodySchema = operation.requestBody?.content["application/json"]?.schema;
            const auth =
              operation.security.length === 0
                ? "none"
                : Object.keys(operation.security[0]!)[0] === "apiKey"
                  ? "API key (Bearer tk_…)"
                  : "session (Bearer token or cookie)";
            return (
              <article key={`${method} ${path}`} data-testid="reference-operation" aria-labelledby={`op-${method}-${path}`}>
                <h3 id={`op-${method}-${path}`} className="mono">
                  {method.toUpperCase()} {path}
                </h3>
                <p>
                  {operation.summary}. Auth: {auth}. Success: {Object.keys(operation.responses)[0]}.
                </p>
                {(operation.parameters?.length || bodySchema?.properties) && (
                  <table>
                    <thead>
                      <tr>
                        <th scope="col">Field</th>
                        <th scope="col">In</th>
                        <th scope="col">Type</th>
                        <th scope="col">Required</th>
                      </tr>
                    </thead>
                    <tbody>
                      {(operation.parameters ?? []).map((parameter) => (
                        <tr key={`${parameter.in}-${parameter.name}`}>
                          <td className="mono">{parameter.name}</td>
                          <td>{parameter.in}</td>
                          <td>{typeOf(parameter.schema)}</td>
                          <td>{parameter.required ? "yes" : "no"}</td>
                        </tr>
                      ))}
                      {Object.entries(bodySchema?.properties ?? {}).map(([name, schema]) => (
                        <tr key={`body-${name}`}>
                          <td className="mono">{name}</td>
                          <td>body</td>
                          <td>{typeOf(schema)}</td>
                          <td>{bodySchema?.required?.includes(name) ? "yes" : "no"}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                )}
              </article>
            );
          }),
        )}
      </section>
    </>
  );
}
