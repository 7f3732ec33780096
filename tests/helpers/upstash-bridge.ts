import { createHash, randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createClient } from "redis";

/**
 * A local bridge that speaks Upstash's REST protocol to a real Redis, so `@upstash/redis` and
 * `@upstash/ratelimit` run unchanged against this machine's Redis:
 *   POST /            ["CMD", "arg", ...]        → {"result": ...}
 *   POST /pipeline    [["CMD", ...], ...]        → [{"result": ...} | {"error": "..."}, ...]
 *   POST /multi-exec  [["CMD", ...], ...]        → same, run in MULTI/EXEC
 * with `Authorization: Bearer <token>` and `Upstash-Encoding: base64` (strings answered base64).
 *
 * Redis 7.0 refuses the `#!lua flags=...` first line that @upstash/ratelimit ≥ 2.1 puts on its
 * scripts, so the bridge strips it and maps the client's script SHA to the stripped script's.
 */
export interface UpstashBridge {
  url: string;
  token: string;
  commands: string[][];
  close(): Promise<void>;
}

const sha1 = (text: string) => createHash("sha1").update(text).digest("hex");

function stripShebang(script: string): string {
  return script.startsWith("#!") ? script.slice(script.indexOf("\n") + 1) : script;
}

function encode(value: unknown, base64: boolean): unknown {
  if (Array.isArray(value)) return value.map((item) => encode(item, base64));
  if (typeof value === "string") return base64 ? Buffer.from(value, "utf8").toString("base64") : value;
  return value ?? null;
}

export async function startUpstashBridge(redisUrl: string): Promise<UpstashBridge> {
  const redis = createClient({ url: redisUrl });
  redis.on("error", () => {});
  await redis.connect();
  const token = randomBytes(16).toString("hex");
  const commands: string[][] = [];
  const scriptShas = new Map<string, string>(); // client's sha → sha of the stripped script

  const translate = (command: string[]): string[] => {
    const name = command[0]!.toUpperCase();
    if (name === "EVAL") {
      const original = command[1]!;
      const stripped = stripShebang(original);
      scriptShas.set(sha1(original), sha1(stripped));
      return ["EVAL", stripped, ...command.slice(2)];
    }
    if (name === "EVALSHA") return ["EVALSHA", scriptShas.get(command[1]!) ?? command[1]!, ...command.slice(2)];
    if (name === "SCRIPT" && command[1]?.toUpperCase() === "LOAD") {
      const original = command[2]!;
      const stripped = stripShebang(original);
      scriptShas.set(sha1(original), sha1(stripped));
      return ["SCRIPT", "LOAD", stripped];
    }
    return command;
  };

  const run = async (command: string[]) => {
    commands.push(command);
    try {
      let result: unknown = await redis.sendCommand(translate(command));
      // SCRIPT LOAD answers the stripped script's sha; the client expects the one it computed.
      if (command[0]!.toUpperCase() === "SCRIPT" && command[1]?.toUpperCase() === "LOAD") result = sha1(command[2]!);
      return { result };
    } catch (error) {
      return { error: (error as Error).message };
    }
  };

  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const reply = (status: number, payload: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(payload));
    };
    if (req.headers.authorization !== `Bearer ${token}`) return reply(401, { error: "Unauthorized" });
    const base64 = String(req.headers["upstash-encoding"] ?? "").toLowerCase() === "base64";
    let body: unknown;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch {
      return reply(400, { error: "ERR invalid JSON" });
    }
    const toArgs = (command: unknown) => (command as unknown[]).map((arg) => (typeof arg === "string" ? arg : JSON.stringify(arg)));
    const path = (req.url ?? "/").split("?")[0];

    if (path === "/pipeline" || path === "/multi-exec") {
      const batch = (body as unknown[]).map(toArgs);
      if (path === "/multi-exec") {
        const multi = redis.multi();
        for (const command of batch) {
          commands.push(command);
          multi.addCommand(translate(command));
        }
        try {
          const results = await multi.exec();
          return reply(
            200,
            results.map((result) => ({ result: encode(result, base64) })),
          );
        } catch (error) {
          return reply(400, { error: (error as Error).message });
        }
      }
      const results = [];
      for (const command of batch) {
        const outcome = await run(command);
        results.push("result" in outcome ? { result: encode(outcome.result, base64) } : outcome);
      }
      return reply(200, results);
    }
    const outcome = await run(toArgs(body));
    if ("error" in outcome) return reply(400, outcome);
    reply(200, { result: encode(outcome.result, base64) });
  });

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    token,
    commands,
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await redis.quit();
    },
  };
}

/** The real Redis of the test run (TEST_REDIS_URL; CI sets it). */
export function testRedisUrl(): string | null {
  const url = process.env.TEST_REDIS_URL?.trim();
  if (!url && process.env.CI === "true") throw new Error("CI=true but TEST_REDIS_URL is not set: the Upstash path must be tested in CI.");
  return url || null;
}
