import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import pg from "pg";

/**
 * A small stand-in for Supabase's PostgREST, enough for what the gateway uses: `POST
 * /rest/v1/rpc/<fn>` with a JSON object of named arguments, run as `select fn(name => value)` on a
 * real PostgreSQL, answering the function's jsonb as the body (as PostgREST does for a scalar
 * function). It checks the service-role credentials like the Supabase API gateway would and
 * records every request, so tests assert what supabase-js really sent.
 */
export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: unknown;
}

export interface PostgrestStandIn {
  url: string;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

const identifier = /^[a-z_][a-z0-9_]*$/;

export async function startPostgrestStandIn(databaseUrl: string, serviceRoleKey: string): Promise<PostgrestStandIn> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 5 });
  const requests: RecordedRequest[] = [];

  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString("utf8");
    let body: unknown = null;
    try {
      body = raw ? JSON.parse(raw) : null;
    } catch {
      body = raw;
    }
    const path = req.url ?? "";
    requests.push({ method: req.method ?? "", path, headers: req.headers, body });

    const reply = (status: number, payload: unknown) => {
      res.writeHead(status, { "content-type": "application/json; charset=utf-8" });
      res.end(JSON.stringify(payload));
    };

    if (req.headers.apikey !== serviceRoleKey || req.headers.authorization !== `Bearer ${serviceRoleKey}`) {
      return reply(401, { message: "Invalid API key", hint: "Double check your Supabase `anon` or `service_role` API key." });
    }
    const match = /^\/rest\/v1\/rpc\/([^/?]+)$/.exec(path);
    if (req.method !== "POST" || !match) return reply(404, { code: "PGRST125", message: `Invalid path specified in request URL: ${path}` });
    const fn = match[1]!;
    if (!identifier.test(fn)) return reply(404, { code: "PGRST202", message: `Could not find the function public.${fn}` });
    if (body === null || typeof body !== "object" || Array.isArray(body)) {
      return reply(400, { code: "PGRST102", message: "Expected a JSON object of named arguments" });
    }

    const names = Object.keys(body);
    if (!names.every((name) => identifier.test(name))) return reply(400, { code: "PGRST102", message: "Invalid argument name" });
    const values = names.map((name) => {
      const value = (body as Record<string, unknown>)[name];
      if (value === null || value === undefined) return null;
      return typeof value === "object" ? JSON.stringify(value) : String(value);
    });
    const sql = `select ${fn}(${names.map((name, i) => `${name} => $${i + 1}`).join(", ")}) as result`;
    try {
      const result = await pool.query<{ result: unknown }>(sql, values);
      reply(200, result.rows[0]?.result ?? null);
    } catch (error) {
      const pgError = error as { code?: string; message: string; detail?: string; hint?: string };
      const status = pgError.code === "42883" ? 404 : 400;
      reply(status, {
        code: pgError.code ?? "XX000",
        message: pgError.message,
        details: pgError.detail ?? null,
        hint: pgError.hint ?? null,
      });
    }
  });

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await pool.end();
    },
  };
}
