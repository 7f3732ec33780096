/**
 * The local agent marketplace (the demo agents, Tetto's protocol) as its own HTTP server, paying
 * and paid on the local Solana cluster: what the gateway's production path (`TETTO_API_URL`)
 * talks to on this machine, over real sockets. A development and test tool, never deployed.
 *
 *   npm run local-marketplace -- --rpc http://127.0.0.1:8899 [--port 4000] [--host 127.0.0.1]
 *        [--calls-per-wallet 10] [--time-scale 1] [--test-agents]
 *
 * prints `ready: marketplace http://HOST:PORT protocol_wallet=<key>` once it listens.
 * `--test-agents` adds `slowpoke` (a complex agent that takes 60 s, scaled by --time-scale).
 * `POST /localnet/reset-next-calls {"count":N}`: the next N agent calls are processed (paid,
 * answered by the agent) and then their connection is reset before the answer is written.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { createTextStatsAgent, demoAgents, type LocalAgentDefinition } from "@/lib/agents/demo-agents";
import { LocalMarketplace, type LocalMarketplaceOptions } from "@/lib/agents/local-marketplace";
import { LocalnetLedger } from "./localnet";
import { argument, runAsScript, stopOnSignals } from "./cli";

export interface LocalMarketplaceServer {
  url: string;
  protocolWallet: string;
  close(): Promise<void>;
}

/** A complex agent that takes 60 s (scaled): slower than a simple agent's 20 s, within its type's 120 s. */
export function slowpokeAgent(timeScale: number): LocalAgentDefinition {
  const stats = createTextStatsAgent();
  return {
    ...stats,
    id: "a1b2c3d4-0000-4000-8000-5107900e0001",
    name: "slowpoke",
    description: "Text statistics, slowly (a complex agent: 60 s).",
    agentType: "complex",
    async handle(input, context) {
      await new Promise((resolve) => setTimeout(resolve, 60_000 * timeScale));
      return stats.handle(input, context);
    },
  };
}

export async function startLocalMarketplaceServer(options: {
  rpcUrl: string;
  port?: number;
  host?: string;
  marketplace?: LocalMarketplaceOptions;
  testAgents?: boolean;
}): Promise<LocalMarketplaceServer> {
  const info = await rpcCall<{ usdcMint: string }>(options.rpcUrl, "localnet_getInfo");
  const ledger = new LocalnetLedger(options.rpcUrl, info.usdcMint);
  const timeScale = options.marketplace?.timeScale ?? 1;
  const agents = options.testAgents ? [...demoAgents(), slowpokeAgent(timeScale)] : demoAgents();
  const marketplace = await LocalMarketplace.create(ledger, agents, options.marketplace ?? {});
  let resetNextCalls = 0;

  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString("utf8");
    const url = new URL(req.url ?? "/", marketplace.apiUrl);
    if (req.method === "POST" && url.pathname === "/localnet/reset-next-calls") {
      resetNextCalls = Number((JSON.parse(body || "{}") as { count?: number }).count ?? 1);
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ ok: true, reset_next_calls: resetNextCalls }));
      return;
    }
    const answer = await marketplace.answer(url.toString(), {
      method: req.method,
      body: body || undefined,
      headers: { "content-type": "application/json" },
    });
    if (url.pathname === "/api/agents/call" && resetNextCalls > 0) {
      // The call was processed — paid, answered by the agent — and the answer is lost on the way.
      resetNextCalls -= 1;
      req.socket.resetAndDestroy();
      return;
    }
    res.writeHead(answer.status, answer.headers).end(answer.body);
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, options.host ?? "127.0.0.1", resolve));
  const { address, port } = server.address() as AddressInfo;
  return {
    url: `http://${address}:${port}`,
    protocolWallet: marketplace.protocolWallet.toBase58(),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function rpcCall<T>(url: string, method: string, params: unknown[] = []): Promise<T> {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
  });
  const body = (await response.json()) as { result?: T; error?: { message: string } };
  if (body.error) throw new Error(`${method}: ${body.error.message}`);
  return body.result as T;
}

async function main(): Promise<void> {
  const rpcUrl = argument("rpc");
  if (!rpcUrl) throw new Error("--rpc <url of the local Solana cluster> is required (npm run local-rpc)");
  const perWallet = argument("calls-per-wallet");
  const server = await startLocalMarketplaceServer({
    rpcUrl,
    port: Number(argument("port") ?? 4000),
    host: argument("host") ?? "127.0.0.1",
    testAgents: process.argv.includes("--test-agents"),
    marketplace: {
      callsPerWalletPerMinute: perWallet === undefined ? 10 : Number(perWallet) === 0 ? null : Number(perWallet),
      timeScale: Number(argument("time-scale") ?? 1),
    },
  });
  console.log(`ready: marketplace ${server.url} protocol_wallet=${server.protocolWallet}`);
  stopOnSignals(() => server.close());
}

runAsScript(__filename, main);
