import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Keypair, SystemProgram, Transaction } from "@solana/web3.js";
import { LedgerError } from "@/lib/solana/ledger";
import { RpcLedger } from "@/lib/solana/rpc-ledger";

/**
 * RpcLedger's requests go over node:http (lib/solana/rpc-transport.ts), not the global fetch.
 * Against a local JSON-RPC server that answers as a hostile or failing node may: what web3.js
 * relied on fetch for still holds, and an answer cut short is never taken for a refusal.
 */

const MINT = Keypair.generate().publicKey.toBase58();

interface Served {
  url: string;
  connections: number;
  /** Connections closed so far, by either side. */
  closed: number;
  requests: { method: string; headers: IncomingMessage["headers"] }[];
}

let close: (() => Promise<void>) | null = null;
afterEach(async () => {
  await close?.();
  close = null;
});

/** A JSON-RPC server whose answer to each request `answer` writes (its n-th request, from 0). */
async function rpcServer(answer: (n: number, method: string, id: unknown, response: ServerResponse) => void): Promise<Served> {
  const served: Served = { url: "", connections: 0, closed: 0, requests: [] };
  const server = createServer(async (request, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const message = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { method: string; id: unknown };
    served.requests.push({ method: message.method, headers: request.headers });
    answer(served.requests.length - 1, message.method, message.id, response);
  });
  server.on("connection", (socket) => {
    served.connections += 1;
    socket.on("close", () => (served.closed += 1));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  served.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  close = () => new Promise((resolve) => server.close(() => resolve()).closeAllConnections());
  return served;
}

const result = (response: ServerResponse, id: unknown, value: unknown) =>
  response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ jsonrpc: "2.0", id, result: value }));

/** A signed transfer: what sendRawTransaction is handed (the server never checks it). */
function signedWire(): Buffer {
  const payer = Keypair.generate();
  const tx = new Transaction({ feePayer: payer.publicKey, recentBlockhash: Keypair.generate().publicKey.toBase58() });
  tx.add(SystemProgram.transfer({ fromPubkey: payer.publicKey, toPubkey: Keypair.generate().publicKey, lamports: 1 }));
  tx.sign(payer);
  return tx.serialize();
}

describe("RpcLedger over node:http", () => {
  it("sends web3.js's requests and reads its answers, on one kept-alive connection, asking for no compression", async () => {
    const served = await rpcServer((n, method, id, response) => {
      if (method === "getBlockHeight") return result(response, id, 1_000 + n);
      result(response, id, { context: { slot: 5 }, value: [{ slot: 4, confirmations: null, err: null, confirmationStatus: "finalized" }] });
    });
    const ledger = new RpcLedger(served.url, MINT);
    const heights: number[] = [];
    for (let i = 0; i < 10; i += 1) heights.push(await ledger.blockHeight());
    expect(heights).toEqual([1_000, 1_001, 1_002, 1_003, 1_004, 1_005, 1_006, 1_007, 1_008, 1_009]);
    expect(await ledger.getSignatureStatus("1".repeat(64))).toBe("confirmed");
    expect(served.connections).toBe(1);
    expect(served.requests.map((request) => request.method)).toEqual([...Array(10).fill("getBlockHeight"), "getSignatureStatuses"]);
    for (const { headers } of served.requests) {
      expect(headers["content-type"]).toBe("application/json");
      expect(headers["accept-encoding"]).toBeUndefined();
    }
  });

  it("lets an idle connection go before the node's advertised Keep-Alive timeout, so no request goes out on one the node is closing", async () => {
    // The node keeps an idle connection 5 s (Node's default) but says 2 s, so only the client can
    // close it within the wait (a second before the 2 s): web3.js's agent would keep it 19 s.
    const served = await rpcServer((n, _method, id, response) => {
      response.setHeader("keep-alive", "timeout=2");
      result(response, id, 500 + n);
    });
    const ledger = new RpcLedger(served.url, MINT);
    expect(await ledger.blockHeight()).toBe(500);
    expect(await ledger.blockHeight()).toBe(501);
    expect(served).toMatchObject({ connections: 1, closed: 0 });
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(served.closed).toBe(1);
    expect(await ledger.blockHeight()).toBe(502);
    expect(served.connections).toBe(2);
  });

  it("retries a 429 as web3.js does, and rejects an error status with its body", async () => {
    const served = await rpcServer((n, _method, id, response) => {
      if (n === 0) return response.writeHead(429, "Too Many Requests").end("slow down");
      if (n === 1) return result(response, id, 77);
      response.writeHead(503, "Service Unavailable").end("node is behind");
    });
    const ledger = new RpcLedger(served.url, MINT);
    expect(await ledger.blockHeight()).toBe(77);
    await expect(ledger.blockHeight()).rejects.toThrow("503 Service Unavailable: node is behind");
    expect(served.requests).toHaveLength(3);
  });

  it("an answer to a payment cut short leaves its outcome unknown (the node may have forwarded it), never refused", async () => {
    const served = await rpcServer((_n, _method, _id, response) => {
      // Headers and half a body promised whole, then the connection drops.
      response.writeHead(200, { "content-type": "application/json", "content-length": "200" });
      response.write('{"jsonrpc":"2.0","id":');
      setTimeout(() => response.socket?.destroy(), 20);
    });
    const ledger = new RpcLedger(served.url, MINT);
    const sent = ledger.sendRawTransaction(signedWire(), 1_000);
    await expect(sent).rejects.toBeInstanceOf(LedgerError);
    await expect(sent).rejects.toMatchObject({ outcome: "unknown" });
    await expect(sent).rejects.toThrow("The RPC closed the connection before its answer was complete");
    expect(served.requests.map((request) => request.method)).toEqual(["sendTransaction"]);
  });

  it("a node that refuses a payment (a JSON-RPC error) makes it refused, with the node's reason", async () => {
    const served = await rpcServer((_n, _method, id, response) =>
      response
        .writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify({ jsonrpc: "2.0", id, error: { code: -32003, message: "Transaction signature verification failure" } })),
    );
    const ledger = new RpcLedger(served.url, MINT);
    const sent = ledger.sendRawTransaction(signedWire(), 1_000);
    await expect(sent).rejects.toMatchObject({ outcome: "rejected" });
    await expect(sent).rejects.toThrow("Transaction signature verification failure");
    expect(served.requests).toHaveLength(1);
  });

  it("a node that goes silent fails the request after the timeout (a payment sent to it: unknown); an idle kept-alive connection is not cut", async () => {
    const served = await rpcServer((n, _method, id, response) => {
      // The first two are answered; after them the node accepts requests and never answers.
      if (n < 2) result(response, id, 500 + n);
    });
    const ledger = new RpcLedger(served.url, MINT, "confirmed", 60_000, 200);
    expect(await ledger.blockHeight()).toBe(500);
    // Idle in the pool for longer than the timeout: the same connection answers the next request.
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(await ledger.blockHeight()).toBe(501);
    expect(served.connections).toBe(1);
    const started = performance.now();
    await expect(ledger.blockHeight()).rejects.toThrow("The RPC did not answer within 200 ms");
    expect(performance.now() - started).toBeLessThan(5_000);
    const sent = ledger.sendRawTransaction(signedWire(), 1_000);
    await expect(sent).rejects.toMatchObject({ outcome: "unknown" });
    await expect(sent).rejects.toThrow("The RPC did not answer within 200 ms");
  });

  it("an https RPC is reached over TLS, and a certificate nobody vouches for is refused before anything is sent", async () => {
    // A throwaway self-signed certificate, made for this test only.
    const dir = mkdtempSync(path.join(tmpdir(), "tdk-rpc-tls-"));
    try {
      execFileSync(
        "openssl",
        [
          "req",
          "-x509",
          "-newkey",
          "ec",
          "-pkeyopt",
          "ec_paramgen_curve:prime256v1",
          "-nodes",
          "-days",
          "1",
          "-subj",
          "/CN=127.0.0.1",
          "-keyout",
          path.join(dir, "key.pem"),
          "-out",
          path.join(dir, "cert.pem"),
        ],
        { stdio: "ignore" },
      );
      let connections = 0;
      let requests = 0;
      const server = createHttpsServer(
        { key: readFileSync(path.join(dir, "key.pem")), cert: readFileSync(path.join(dir, "cert.pem")) },
        (_request, response) => {
          requests += 1;
          response.end();
        },
      );
      server.on("connection", () => (connections += 1));
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      close = () => new Promise((resolve) => server.close(() => resolve()).closeAllConnections());
      const ledger = new RpcLedger(`https://127.0.0.1:${(server.address() as AddressInfo).port}`, MINT);
      await expect(ledger.blockHeight()).rejects.toThrow(/self-signed certificate/);
      const sent = ledger.sendRawTransaction(signedWire(), 1_000);
      await expect(sent).rejects.toMatchObject({ outcome: "unknown" });
      // Both were tried (a refused connection is not kept for the next), and neither sent a request.
      expect(connections).toBe(2);
      expect(requests).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
