import { randomBytes, randomUUID } from "node:crypto";
import { createTransferCheckedInstruction, getAssociatedTokenAddressSync } from "@solana/spl-token";
import { Keypair, PublicKey, Transaction, TransactionInstruction } from "@solana/web3.js";
import { z } from "zod";
import { LedgerError, MEMO_PROGRAM_ID, USDC_DECIMALS } from "@/lib/solana/ledger";
import type { LocalLedger } from "@/lib/solana/local-ledger";
import { signAgentRequest, verifyAgentRequest } from "./agent-signature";
import type { LocalAgentDefinition } from "./demo-agents";
import type { FetchLike } from "./marketplace-client";
import { buildTransactionRequestSchema, callRequestSchema, type AgentRequestBody, type MarketplaceAgent } from "./protocol";

/**
 * The embedded default's marketplace: the same HTTP protocol as the real one, answered in process
 * (a fetch handler: Request in, Response out) over the local ledger. It builds USDC payments to
 * each agent's owner and its protocol wallet, submits the signed transaction, then calls the agent
 * with a signed request (`X-Tetto-Signature`) that the agent verifies.
 */

interface Intent {
  agent: LocalAgentDefinition;
  input: unknown;
  payer: string;
  message: string;
  expiresAt: number;
  used: boolean;
}

interface Agent {
  definition: LocalAgentDefinition;
  owner: PublicKey;
  secret: string;
}

const INTENT_TTL_MS = 120_000;

export class LocalMarketplace {
  readonly apiUrl = "http://local-marketplace.invalid";
  readonly protocolWallet: PublicKey;
  private readonly agents: Agent[];
  private readonly intents = new Map<string, Intent>();
  /** Every payment the marketplace submitted, by signature (for tests and reconciliation). */
  readonly submitted: string[] = [];

  private constructor(
    private readonly ledger: LocalLedger,
    agents: Agent[],
    protocolWallet: PublicKey,
  ) {
    this.agents = agents;
    this.protocolWallet = protocolWallet;
  }

  /** Creates owner and protocol wallets and their USDC accounts on the local ledger. */
  static async create(ledger: LocalLedger, definitions: LocalAgentDefinition[]): Promise<LocalMarketplace> {
    const protocolWallet = Keypair.generate().publicKey;
    const agents = definitions.map((definition) => ({
      definition,
      owner: Keypair.generate().publicKey,
      secret: randomBytes(32).toString("hex"),
    }));
    for (const owner of [protocolWallet, ...agents.map((agent) => agent.owner)]) await ledger.fund(owner, 0n, 0n);
    return new LocalMarketplace(ledger, agents, protocolWallet);
  }

  /** Walletless view of an agent in the marketplace's catalog format. */
  private toCatalog(agent: Agent): MarketplaceAgent {
    const { definition } = agent;
    return {
      id: definition.id,
      name: definition.name,
      description: definition.description,
      endpoint_url: `local://agents/${definition.name}`,
      price_base: Number(definition.priceMicro),
      token: "USDC",
      token_mint: this.ledger.usdcMint.toBase58(),
      token_decimals: USDC_DECIMALS,
      input_schema: z.toJSONSchema(definition.inputSchema),
      output_schema: z.toJSONSchema(definition.outputSchema),
      owner_wallet: agent.owner.toBase58(),
      fee_bps: definition.feeBps,
      status: "active",
    };
  }

  readonly fetch: FetchLike = async (input, init) => {
    const url = new URL(input);
    const method = (init?.method ?? "GET").toUpperCase();
    const path = url.pathname;
    try {
      if (method === "GET" && path === "/api/agents") return json(200, { ok: true, agents: this.agents.map((agent) => this.toCatalog(agent)) });
      const one = /^\/api\/agents\/([^/]+)$/.exec(path);
      if (method === "GET" && one) {
        const agent = this.find(decodeURIComponent(one[1]!));
        return agent ? json(200, { ok: true, agent: this.toCatalog(agent) }) : json(404, { ok: false, error: "Agent not found" });
      }
      const build = /^\/api\/agents\/([^/]+)\/build-transaction$/.exec(path);
      if (method === "POST" && build) return await this.buildTransaction(decodeURIComponent(build[1]!), await readBody(init));
      if (method === "POST" && path === "/api/agents/call") return await this.call(await readBody(init));
      return json(404, { ok: false, error: "Not found" });
    } catch (error) {
      return json(500, { ok: false, error: `Marketplace error: ${(error as Error).message}` });
    }
  };

  private find(idOrName: string): Agent | undefined {
    const wanted = idOrName.toLowerCase();
    return this.agents.find((agent) => agent.definition.id === wanted || agent.definition.name === wanted);
  }

  private sweepExpiredIntents(now: number): void {
    for (const [id, intent] of this.intents) if (intent.expiresAt < now - INTENT_TTL_MS) this.intents.delete(id);
  }

  private async buildTransaction(agentId: string, body: unknown): Promise<Response> {
    this.sweepExpiredIntents(Date.now());
    const agent = this.find(agentId);
    if (!agent) return json(404, { ok: false, error: "Agent not found" });
    const request = buildTransactionRequestSchema.safeParse(body);
    if (!request.success) return json(400, { ok: false, error: "Invalid build-transaction request" });
    const input = agent.definition.inputSchema.safeParse(request.data.input);
    if (!input.success) {
      return json(400, { ok: false, error: `Input validation failed: ${input.error.issues.map((i) => `${i.path.join(".") || "input"}: ${i.message}`).join("; ")}` });
    }
    let payer: PublicKey;
    try {
      payer = new PublicKey(request.data.payer_wallet);
    } catch {
      return json(400, { ok: false, error: "Invalid payer wallet" });
    }

    const mint = this.ledger.usdcMint;
    const price = agent.definition.priceMicro;
    const fee = (price * BigInt(agent.definition.feeBps)) / 10_000n;
    const source = getAssociatedTokenAddressSync(mint, payer, true);
    const { blockhash } = await this.ledger.latestBlockhash();
    const tx = new Transaction({ feePayer: payer, blockhash, lastValidBlockHeight: 0 });
    tx.add(createTransferCheckedInstruction(source, mint, getAssociatedTokenAddressSync(mint, agent.owner, true), payer, price - fee, USDC_DECIMALS));
    if (fee > 0n) tx.add(createTransferCheckedInstruction(source, mint, getAssociatedTokenAddressSync(mint, this.protocolWallet, true), payer, fee, USDC_DECIMALS));

    // The intent's reference in a memo makes every payment unique: two identical transfers with
    // the same blockhash would otherwise share one signature, and only one could land.
    const intentId = randomUUID();
    tx.add(new TransactionInstruction({ programId: MEMO_PROGRAM_ID, keys: [], data: Buffer.from(`tetto:${intentId}`, "utf8") }));
    const expiresAt = Date.now() + INTENT_TTL_MS;
    this.intents.set(intentId, { agent: agent.definition, input: input.data, payer: payer.toBase58(), message: tx.serializeMessage().toString("base64"), expiresAt, used: false });
    return json(200, {
      ok: true,
      transaction: tx.serialize({ requireAllSignatures: false, verifySignatures: false }).toString("base64"),
      payment_intent_id: intentId,
      amount_base: Number(price),
      expires_at: new Date(expiresAt).toISOString(),
    });
  }

  private async call(body: unknown): Promise<Response> {
    const request = callRequestSchema.safeParse(body);
    if (!request.success) return json(400, { ok: false, error: "Invalid call request" });
    const intent = this.intents.get(request.data.payment_intent_id);
    if (!intent) return json(404, { ok: false, error: "Unknown payment intent" });
    if (intent.used) return json(409, { ok: false, error: "Payment intent already used" });
    if (Date.now() > intent.expiresAt) return json(410, { ok: false, error: "Payment intent expired" });

    let tx: Transaction;
    try {
      tx = Transaction.from(Buffer.from(request.data.signed_transaction, "base64"));
    } catch {
      return json(400, { ok: false, error: "Invalid signed transaction" });
    }
    if (tx.serializeMessage().toString("base64") !== intent.message || !tx.verifySignatures()) {
      return json(400, { ok: false, error: "Signed transaction does not match the payment intent" });
    }
    intent.used = true;

    let signature: string;
    try {
      signature = await this.ledger.sendTransaction(tx);
    } catch (error) {
      const message = error instanceof LedgerError ? error.message.split("\n")[0]!.slice(0, 300) : "submission failed";
      return json(402, { ok: false, error: `Payment failed: ${message}` });
    }
    this.submitted.push(signature);

    const agent = this.agents.find((candidate) => candidate.definition === intent.agent)!;
    const agentBody: AgentRequestBody = {
      input: intent.input,
      tetto_context: { caller_wallet: intent.payer, caller_agent_id: null, intent_id: request.data.payment_intent_id, timestamp: Date.now(), version: "1" },
    };
    const outcome = await this.invokeAgent(agent, agentBody);
    const fee = (intent.agent.priceMicro * BigInt(intent.agent.feeBps)) / 10_000n;
    if (!outcome.ok) return json(502, { ok: false, error: `Agent failed: ${outcome.error}`, tx_signature: signature });
    return json(200, {
      ok: true,
      output: outcome.output,
      tx_signature: signature,
      receipt_id: `rcpt_${randomBytes(12).toString("hex")}`,
      agent_received: Number(intent.agent.priceMicro - fee),
      protocol_fee: Number(fee),
    });
  }

  /** The agent's endpoint: a signed request, verified by the agent before it does anything. */
  private async invokeAgent(agent: Agent, body: AgentRequestBody): Promise<{ ok: true; output: unknown } | { ok: false; error: string }> {
    const raw = JSON.stringify(body);
    const request = new Request(`https://agents.local/${agent.definition.name}`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-tetto-signature": signAgentRequest(agent.secret, raw) },
      body: raw,
    });
    const response = await serveAgent(agent.definition, agent.secret, request);
    const answer = (await response.json()) as { output?: unknown; error?: string };
    return response.ok ? { ok: true, output: answer.output } : { ok: false, error: answer.error ?? `agent answered ${response.status}` };
  }
}

/** An agent's HTTP endpoint: refuses any request whose X-Tetto-Signature does not verify. */
export async function serveAgent(definition: LocalAgentDefinition, secret: string, request: Request): Promise<Response> {
  const raw = await request.text();
  if (!verifyAgentRequest(secret, raw, request.headers.get("x-tetto-signature"))) return json(401, { error: "invalid signature" });
  const body = JSON.parse(raw) as AgentRequestBody;
  try {
    return json(200, { output: await definition.handle(body.input, { callerWallet: body.tetto_context.caller_wallet }) });
  } catch (error) {
    return json(500, { error: error instanceof Error ? error.message : "agent error" });
  }
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
}

async function readBody(init: RequestInit | undefined): Promise<unknown> {
  if (typeof init?.body !== "string") return null;
  try {
    return JSON.parse(init.body);
  } catch {
    return null;
  }
}
