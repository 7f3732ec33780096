import { request as httpRequest, type Agent, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";

/**
 * What web3.js's RPC client reads of an answer (`createRpcClient` in @solana/web3.js 1.x): the
 * status, for its retries on 429 and its error message, and the body as text, which it parses.
 */
interface RpcAnswer {
  ok: boolean;
  status: number;
  statusText: string;
  text(): Promise<string>;
}

const CUT_SHORT = "The RPC closed the connection before its answer was complete";

/**
 * The `fetch` RpcLedger's web3.js Connection posts its JSON-RPC requests with: one request over
 * node:http(s), on the keep-alive agent web3.js hands in (`init.agent`).
 *
 * Node 20's global fetch (undici and its WHATWG streams; in the server, behind Next.js's patch of
 * it as well) is most of an RPC request's CPU: against the local RPC, one process, 0.43–0.46 ms a
 * request with fetch and 0.14–0.15 ms over node:http (issue 11, 3,000 getBlockHeight each), and a
 * paid call makes two (its payment's last valid block height, then its status). What it leaves
 * out, a JSON-RPC endpoint does not use: redirects (the URL is configured as it answers) and
 * compression (none is asked for: no Accept-Encoding is sent). Next.js's and OpenTelemetry's fetch
 * spans no longer cover these requests; the paid call's own step spans still time them.
 *
 * `timeoutMs`: a request whose connection stays silent this long fails (fetch gave up after 300 s
 * without headers; a node that answers at all answers in well under a second). What a failure
 * means is the caller's to say: for a payment sent, RpcLedger says its outcome is unknown.
 */
export function rpcTransport({ timeoutMs }: { timeoutMs: number }): typeof fetch {
  const post = (input: string | URL, init: RequestInit & { agent?: Agent | false } = {}): Promise<RpcAnswer> => {
    const url = new URL(input);
    // http: or https: only: web3.js's Connection refuses any other endpoint when it is made.
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    const body = typeof init.body === "string" ? init.body : "";
    return new Promise<RpcAnswer>((resolve, reject) => {
      const request = send(
        url,
        {
          method: init.method ?? "POST",
          agent: init.agent ?? undefined,
          headers: { ...(init.headers as Record<string, string> | undefined), "content-length": String(Buffer.byteLength(body)) },
        },
        (response) => {
          letGoBeforeTheNode(response, init.agent);
          const chunks: Buffer[] = [];
          response.on("data", (chunk: Buffer) => chunks.push(chunk));
          // A connection closed mid-answer ends in 'error' or only 'close', never 'end': the promise must not wait forever.
          response.on("error", (error) => reject(new Error(CUT_SHORT, { cause: error })));
          response.on("close", () => response.complete || reject(new Error(CUT_SHORT)));
          response.on("end", () => {
            const status = response.statusCode ?? 0;
            const text = Buffer.concat(chunks).toString("utf8");
            resolve({ ok: status >= 200 && status < 300, status, statusText: response.statusMessage ?? "", text: async () => text });
          });
        },
      );
      request.setTimeout(timeoutMs, () => request.destroy(new Error(`The RPC did not answer within ${timeoutMs} ms`)));
      request.on("error", reject);
      request.end(body);
    });
  };
  // web3.js reads only what RpcAnswer has.
  return post as unknown as typeof fetch;
}

/**
 * How long the agent may keep this answer's connection idle for the next request: a second less
 * than the node says it keeps it (`Keep-Alive: timeout=N`, which Node's servers and many proxies
 * send), and never longer than the agent's own limit. Node's own agent does this, but web3.js's
 * (agentkeepalive) then sets every idle socket's timer to its own 19 s ("one second fewer than the
 * Solana RPC's keepalive timeout"): against a node that closes sooner, a request could go out on
 * a connection as the node closed it, "socket hang up" on a request the node never read (seen in
 * the test suite against a node keeping 5 s). The agent reads `freeSocketTimeout` off the socket
 * when the answer is done; a hint of a second or less Node's agent already declines to reuse.
 */
function letGoBeforeTheNode(response: IncomingMessage, agent: Agent | false | undefined): void {
  const advertised = /(?:^|,)\s*timeout=(\d+)/i.exec(String(response.headers["keep-alive"] ?? ""));
  if (!advertised || !response.socket) return;
  const idleMs = Number(advertised[1]) * 1000 - 1000;
  const agentMs = (agent as { options?: { freeSocketTimeout?: number } } | undefined)?.options?.freeSocketTimeout;
  if (idleMs > 0 && (agentMs === undefined || idleMs < agentMs))
    (response.socket as typeof response.socket & { freeSocketTimeout?: number }).freeSocketTimeout = idleMs;
}
