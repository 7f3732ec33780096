import { randomBytes, randomUUID } from "node:crypto";
import { createAssociatedTokenAccountInstruction, createTransferCheckedInstruction, createTransferInstruction } from "@solana/spl-token";
import { ComputeBudgetProgram, Keypair, PublicKey, SystemProgram, TransactionInstruction } from "@solana/web3.js";
import { z } from "zod";
import { LedgerError, type FaucetLedger } from "@/lib/solana/ledger";
import { USDC_DECIMALS } from "@/lib/money/units";
import { MEMO_PROGRAM_ID } from "@/lib/solana/memo";
import { addressOf } from "@/lib/solana/base58";
import { ed25519Verify } from "@/lib/crypto/ed25519";
import { associatedTokenAddress, compileLegacyMessage, splitTransactionWire, unsignedWire } from "@/lib/solana/signing";
import { signAgentRequest, verifyAgentRequest } from "./agent-signature";
import type { LocalAgentDefinition } from "./demo-agents";
import type { FetchLike, HttpAnswer } from "./marketplace-client";
import { AGENT_TYPE_TIMEOUT_MS, buildTransactionRequestSchema, callRequestSchema, type AgentRequestBody } from "./protocol";
import { splitPayment } from "./verify-transaction";

/**
 * The embedded default's marketplace: the same HTTP protocol as the real one (Tetto), answered in
 * process over the local ledger: `fetch` takes what a fetch call would send and answers what the
 * client reads of a Response (status, headers, JSON), without building one (`answer` gives the raw
 * answer to the HTTP server of scripts/local-marketplace.ts). It behaves like the
 * real one where that matters to a client, unkind parts included:
 *  - it builds payments as tetto-sdk's builder did: a token-account creation (non-idempotent,
 *    paid by the caller) for a recipient that has none, then a Transfer to the owner and one to
 *    the protocol wallet (`fee_bps`, default 10%), and no memo — two identical calls in the same
 *    slot get byte-identical transactions;
 *  - agents run as long as their type allows (simple 20 s, complex 120 s, coordinator 180 s,
 *    scaled by `timeScale` in tests), and a paid call leaves a receipt at `GET /api/receipts/{id}`;
 *  - it limits agent calls per payer wallet (the real one documents 10 a minute) with a 429;
 *  - its catalog lists what the real one lists: SOL-priced agents, null optional fields, status.
 */

interface Intent {
  agent: Agent;
  input: unknown;
  payer: string;
  message: string;
  /** Of the blockhash the payment was built on: a signed copy parsed from the wire has lost it. */
  lastValidBlockHeight: number;
  expiresAt: number;
  used: false;
}

/**
 * What is left of an intent once a call has used it: enough to answer a second call with 409
 * until the intent would have expired. Its message and input (most of an intent's memory) are
 * dropped at once: about 160 bytes of heap per used intent instead of 750 (a scratch heap probe
 * over 9,000 calls), for the four minutes an intent is kept.
 */
interface UsedIntent {
  expiresAt: number;
  used: true;
}

interface Agent {
  definition: LocalAgentDefinition;
  owner: PublicKey;
  secret: string;
}

export interface LocalMarketplaceOptions {
  /** Agent calls each payer wallet may start per minute (the real marketplace: 10); null: unlimited. */
  callsPerWalletPerMinute?: number | null;
  /** Multiplies the agent-type timeouts (tests run a "180 s" coordinator in a fraction of that). */
  timeScale?: number;
  /** The SPL instruction the builder uses: tetto-sdk's TypeScript builder used Transfer, its Python one TransferChecked. */
  transferInstruction?: "Transfer" | "TransferChecked";
  /**
   * Adds the intent id as a memo, so no two payments are ever identical. The real builder adds
   * none (the default here): only load tests that measure something else turn this on.
   */
  memo?: boolean;
  /** Compute-budget instructions the builder adds (the real builder adds none; a hostile one may). */
  computeBudget?: { units: number; microLamports: number };
  /** The most receipts kept (the latest), so the process's memory stays bounded under load; default 100,000. */
  maxReceipts?: number;
  /**
   * The most bytes of receipts kept (their JSON text): the count alone does not bound memory when
   * an agent's outputs are large. Default 64 MiB, above what 100,000 receipts of the demo agents take.
   */
  maxReceiptBytes?: number;
}

interface StoredReceipt {
  id: string;
  agent: { id: string; name: string };
  caller_wallet: string;
  payout_wallet: string;
  token: string;
  amount: number;
  tx_signature: string;
  output_data: unknown;
  status: "completed";
  created_at: string;
}

const INTENT_TTL_MS = 120_000;
const WINDOW_MS = 60_000;
/** Receipts are kept an hour: what recovery reads is minutes old. */
const RECEIPT_TTL_MS = 3_600_000;

/**
 * Drops the entries at the front of an insertion-ordered map while `expired` says so (`dropped`
 * hears of each). The maps here are filled in time order, so the oldest are first and a sweep
 * stops at the first live one: O(what expired), not O(the map), on every call.
 */
function dropExpiredFront<V>(map: Map<string, V>, expired: (value: V) => boolean, dropped?: (value: V) => void): void {
  for (const [id, value] of map) {
    if (!expired(value)) return;
    map.delete(id);
    dropped?.(value);
  }
}

export class LocalMarketplace {
  readonly apiUrl = "http://local-marketplace.invalid";
  readonly protocolWallet: PublicKey;
  private readonly agents: Agent[];
  private readonly intents = new Map<string, Intent | UsedIntent>();
  /**
   * Receipts as their JSON text, the form GET /api/receipts/:id answers with: one string a receipt
   * instead of an object graph: about 0.9 KB of heap a receipt instead of 1.4 KB (a scratch heap
   * probe over 9,000 calls). Up to `maxReceipts` of them and `maxReceiptBytes` of text are kept, for
   * an hour at most.
   */
  private readonly receipts = new Map<string, { json: string; bytes: number; createdAt: number }>();
  private receiptBytes = 0;
  private readonly callsByWallet = new Map<string, number[]>();
  /**
   * Wallets this marketplace generated (the protocol's, and owners of agents defined without one)
   * whose USDC account is known to exist. Only a token account's owner can close it, and nobody
   * holds these wallets' keys: once seen, such an account is not read from the chain again on every
   * payment built. An owner a definition brings (who could close theirs) is read every time.
   */
  private readonly openRecipientAccounts = new Set<string>();
  /** How many payments the marketplace submitted to the chain (for tests). */
  submittedPayments = 0;

  private constructor(
    private readonly ledger: FaucetLedger,
    agents: Agent[],
    protocolWallet: PublicKey,
    private readonly options: LocalMarketplaceOptions,
    private readonly generatedWallets: ReadonlySet<string>,
  ) {
    this.agents = agents;
    this.protocolWallet = protocolWallet;
  }

  /** Creates owner and protocol wallets and their USDC accounts on the local ledger. */
  static async create(
    ledger: FaucetLedger,
    definitions: LocalAgentDefinition[],
    options: LocalMarketplaceOptions = {},
  ): Promise<LocalMarketplace> {
    const protocolWallet = Keypair.generate().publicKey;
    const generated = new Set([protocolWallet.toBase58()]);
    const agents = definitions.map((definition) => {
      const owner = definition.owner?.publicKey ?? Keypair.generate().publicKey;
      if (!definition.owner) generated.add(owner.toBase58());
      return { definition, owner, secret: randomBytes(32).toString("hex") };
    });
    for (const owner of [protocolWallet, ...agents.map((agent) => agent.owner)]) await ledger.fund(owner, 0n, 0n);
    return new LocalMarketplace(ledger, agents, protocolWallet, options, generated);
  }

  /** Walletless view of an agent in the marketplace's catalog format. */
  private toCatalog(agent: Agent): Record<string, unknown> {
    const { definition } = agent;
    const sol = definition.token === "SOL";
    const optional = definition.nullOptionalFields
      ? {
          description: null,
          endpoint_url: null,
          input_schema: null,
          output_schema: null,
          fee_bps: null,
          agent_type: null,
          is_beta: null,
          owner: null,
        }
      : {
          description: definition.description,
          endpoint_url: `local://agents/${definition.name}`,
          input_schema: z.toJSONSchema(definition.inputSchema),
          output_schema: z.toJSONSchema(definition.outputSchema),
          fee_bps: definition.feeBps,
          agent_type: definition.agentType ?? "simple",
        };
    return {
      id: definition.id,
      name: definition.name,
      price_base: Number(definition.priceMicro),
      price_display: Number(definition.priceMicro) / (sol ? 1e9 : 1e6),
      token: sol ? "SOL" : "USDC",
      token_mint: sol ? "SOL" : addressOf(this.ledger.usdcMint),
      token_decimals: sol ? 9 : USDC_DECIMALS,
      owner_wallet: addressOf(agent.owner),
      status: definition.status ?? "active",
      ...optional,
    };
  }

  /**
   * As a real fetch: the caller's AbortSignal (its timeout) rejects the request while the marketplace
   * goes on. The answer is not a fetch Response: building one and reading it back (a body stream
   * each way) was about 3% of a paid call's request thread on the embedded default (issue 11).
   */
  readonly fetch: FetchLike = (input, init) => {
    const signal = init?.signal;
    const answer = this.handle(input, init).then((raw) => new InProcessAnswer(raw));
    if (!signal) return answer;
    return new Promise<HttpAnswer>((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      const abort = () => reject(signal.reason);
      signal.addEventListener("abort", abort, { once: true });
      answer.then(resolve, reject).finally(() => signal.removeEventListener("abort", abort));
    });
  };

  /** The answer to one HTTP request: its status, headers and JSON text. */
  answer(input: string, init?: RequestInit): Promise<LocalAnswer> {
    return this.handle(input, init);
  }

  private async handle(input: string, init: RequestInit | undefined): Promise<LocalAnswer> {
    const url = new URL(input);
    const method = (init?.method ?? "GET").toUpperCase();
    const path = url.pathname;
    try {
      if (method === "GET" && path === "/api/agents")
        return json(200, { ok: true, agents: this.agents.map((agent) => this.toCatalog(agent)), count: this.agents.length });
      const one = /^\/api\/agents\/([^/]+)$/.exec(path);
      if (method === "GET" && one) {
        const agent = this.find(decodeURIComponent(one[1]!));
        return agent ? json(200, { ok: true, agent: this.toCatalog(agent) }) : json(404, { ok: false, error: "Agent not found" });
      }
      const receipt = /^\/api\/receipts\/([^/]+)$/.exec(path);
      if (method === "GET" && receipt) {
        const found = this.receipts.get(decodeURIComponent(receipt[1]!));
        return found
          ? { status: 200, headers: { "content-type": "application/json" }, body: `{"ok":true,"receipt":${found.json}}` }
          : json(404, { ok: false, error: "Receipt not found" });
      }
      const build = /^\/api\/agents\/([^/]+)\/build-transaction$/.exec(path);
      if (method === "POST" && build) return await this.buildTransaction(decodeURIComponent(build[1]!), await readBody(init));
      if (method === "POST" && path === "/api/agents/call") return await this.call(await readBody(init));
      return json(404, { ok: false, error: "Not found" });
    } catch (error) {
      return json(500, { ok: false, error: `Marketplace error: ${(error as Error).message}` });
    }
  }

  /** The marketplace's URLs name agents by id. */
  private find(id: string): Agent | undefined {
    return this.agents.find((agent) => agent.definition.id === id.toLowerCase());
  }

  private sweepExpired(now: number): void {
    dropExpiredFront(this.intents, (intent) => intent.expiresAt < now - INTENT_TTL_MS);
    const maxReceipts = this.options.maxReceipts ?? 100_000;
    const maxReceiptBytes = this.options.maxReceiptBytes ?? 64 * 2 ** 20;
    dropExpiredFront(
      this.receipts,
      (receipt) => this.receipts.size > maxReceipts || this.receiptBytes > maxReceiptBytes || receipt.createdAt < now - RECEIPT_TTL_MS,
      (receipt) => (this.receiptBytes -= receipt.bytes),
    );
  }

  /** 10 agent calls a minute per wallet (configurable), counted when a call starts: at its build. */
  private rateLimited(payer: string, now: number): number | null {
    const limit = this.options.callsPerWalletPerMinute ?? null;
    if (limit === null) return null;
    const recent = (this.callsByWallet.get(payer) ?? []).filter((at) => at > now - WINDOW_MS);
    if (recent.length >= limit) {
      this.callsByWallet.set(payer, recent);
      return Math.max(1, Math.ceil((recent[0]! + WINDOW_MS - now) / 1000));
    }
    recent.push(now);
    this.callsByWallet.set(payer, recent);
    return null;
  }

  private async buildTransaction(agentId: string, body: unknown): Promise<LocalAnswer> {
    const now = Date.now();
    this.sweepExpired(now);
    const agent = this.find(agentId);
    // Like a marketplace that lags behind its own catalog, it builds for an agent whatever its status: refusing is the client's job.
    if (!agent) return json(404, { ok: false, error: "Agent not found" });
    const request = buildTransactionRequestSchema.safeParse(body);
    if (!request.success) return json(400, { ok: false, error: "Invalid build-transaction request" });
    let payer: PublicKey;
    try {
      payer = new PublicKey(request.data.payer_wallet);
    } catch {
      return json(400, { ok: false, error: "Invalid payer wallet" });
    }
    const payerAddress = payer.toBase58();
    const wait = this.rateLimited(payerAddress, now);
    if (wait !== null)
      return json(429, { ok: false, error: `Rate limit exceeded. Try again in ${wait} seconds.` }, { "retry-after": String(wait) });
    const input = agent.definition.inputSchema.safeParse(request.data.input);
    if (!input.success) {
      return json(400, {
        ok: false,
        error: `Input validation failed: ${input.error.issues.map((i) => `${i.path.join(".") || "input"}: ${i.message}`).join("; ")}`,
      });
    }

    // Compiled once: the intent keeps the message, and the unsigned transaction is built around it.
    const { message, lastValidBlockHeight } = await this.buildPayment(agent, payer);
    const intentId = randomUUID();
    const expiresAt = now + INTENT_TTL_MS;
    this.intents.set(intentId, {
      agent,
      input: input.data,
      payer: payerAddress,
      message: message.toString("base64"),
      lastValidBlockHeight,
      expiresAt,
      used: false,
    });
    return json(200, {
      ok: true,
      transaction: unsignedWire(message).toString("base64"),
      payment_intent_id: intentId,
      amount_base: Number(agent.definition.priceMicro),
      token: agent.definition.token ?? "USDC",
      expires_at: new Date(expiresAt).toISOString(),
    });
  }

  /**
   * As tetto-sdk's builder (`new Transaction()`, its message compiled by web3.js): recipients' token
   * accounts created when missing, the split as fee_bps says, no memo. The message is compiled to
   * the same bytes by compileLegacyMessage, without web3.js's slow sort.
   */
  private async buildPayment(agent: Agent, payer: PublicKey): Promise<{ message: Buffer; lastValidBlockHeight: number }> {
    const { blockhash, lastValidBlockHeight } = await this.ledger.latestBlockhash();
    const instructions = await this.paymentInstructions(agent, payer);
    return { message: compileLegacyMessage(payer, instructions, blockhash), lastValidBlockHeight };
  }

  private async paymentInstructions(agent: Agent, payer: PublicKey): Promise<TransactionInstruction[]> {
    const { definition } = agent;
    const { ownerMicro, protocolMicro } = splitPayment(definition.priceMicro, definition.feeBps);
    const instructions: TransactionInstruction[] = [];
    const budget = this.options.computeBudget;
    if (budget) {
      instructions.push(
        ComputeBudgetProgram.setComputeUnitLimit({ units: budget.units }),
        ComputeBudgetProgram.setComputeUnitPrice({ microLamports: budget.microLamports }),
      );
    }
    if (definition.token === "SOL") {
      instructions.push(SystemProgram.transfer({ fromPubkey: payer, toPubkey: agent.owner, lamports: ownerMicro }));
      instructions.push(SystemProgram.transfer({ fromPubkey: payer, toPubkey: this.protocolWallet, lamports: protocolMicro }));
      return instructions;
    }
    const mint = this.ledger.usdcMint;
    const source = associatedTokenAddress(mint, payer);
    const transfers: TransactionInstruction[] = [];
    for (const [recipient, amount] of [
      [agent.owner, ownerMicro],
      [this.protocolWallet, protocolMicro],
    ] as const) {
      const account = associatedTokenAddress(mint, recipient);
      if (!(await this.recipientAccountExists(recipient)))
        instructions.push(createAssociatedTokenAccountInstruction(payer, account, recipient, mint));
      transfers.push(
        this.options.transferInstruction === "TransferChecked"
          ? createTransferCheckedInstruction(source, mint, account, payer, amount, USDC_DECIMALS)
          : createTransferInstruction(source, account, payer, amount),
      );
    }
    instructions.push(...transfers);
    if (this.options.memo)
      instructions.push(
        new TransactionInstruction({ programId: MEMO_PROGRAM_ID, keys: [], data: Buffer.from(`tetto:${randomUUID()}`, "utf8") }),
      );
    return instructions;
  }

  private async recipientAccountExists(recipient: PublicKey): Promise<boolean> {
    const key = addressOf(recipient);
    if (this.openRecipientAccounts.has(key)) return true;
    const exists = (await this.ledger.getUsdcAccount(recipient)).exists;
    if (exists && this.generatedWallets.has(key)) this.openRecipientAccounts.add(key);
    return exists;
  }

  private async call(body: unknown): Promise<LocalAnswer> {
    const request = callRequestSchema.safeParse(body);
    if (!request.success) return json(400, { ok: false, error: "Invalid call request" });
    const intent = this.intents.get(request.data.payment_intent_id);
    if (!intent) return json(404, { ok: false, error: "Unknown payment intent" });
    if (intent.used) return json(409, { ok: false, error: "Payment intent already used" });
    if (Date.now() > intent.expiresAt) return json(410, { ok: false, error: "Payment intent expired" });

    // The message must be the intent's, byte for byte, with one signature: the payer's, the only
    // signer the message asks for. The chain verifies that signature when the payment is sent; the
    // marketplace checks it itself only when the chain refused the payment, to answer why.
    const wire = Buffer.from(request.data.signed_transaction, "base64");
    const split = splitTransactionWire(wire);
    if (!split) return json(400, { ok: false, error: "Invalid signed transaction" });
    const mismatch = () => json(400, { ok: false, error: "Signed transaction does not match the payment intent" });
    if (split.message.toString("base64") !== intent.message || split.signatures.length !== 1) return mismatch();
    this.intents.set(request.data.payment_intent_id, { expiresAt: intent.expiresAt, used: true });

    let signature: string;
    try {
      signature = await this.ledger.sendRawTransaction(wire, intent.lastValidBlockHeight);
    } catch (error) {
      if (!ed25519Verify(new PublicKey(intent.payer).toBytes(), split.message, split.signatures[0]!)) {
        // Not the payer's signature: the chain refused it before anything ran, so the intent was not
        // used and stays open for the payer's own signature (as when this was checked before sending).
        this.intents.set(request.data.payment_intent_id, intent);
        return mismatch();
      }
      const message = error instanceof LedgerError ? error.message.split("\n")[0]!.slice(0, 300) : "submission failed";
      return json(402, { ok: false, error: `Payment failed: ${message}` });
    }
    this.submittedPayments += 1;

    const { agent } = intent;
    const agentBody: AgentRequestBody = {
      input: intent.input,
      tetto_context: {
        caller_wallet: intent.payer,
        caller_agent_id: null,
        intent_id: request.data.payment_intent_id,
        timestamp: Date.now(),
        version: "1",
      },
    };
    const outcome = await this.invokeAgent(agent, agentBody);
    if (!outcome.ok) return json(502, { ok: false, error: `Agent failed: ${outcome.error}`, tx_signature: signature });
    const { ownerMicro, protocolMicro } = splitPayment(agent.definition.priceMicro, agent.definition.feeBps);
    const receipt: StoredReceipt = {
      id: randomUUID(),
      agent: { id: agent.definition.id, name: agent.definition.name },
      caller_wallet: intent.payer,
      payout_wallet: addressOf(agent.owner),
      token: agent.definition.token ?? "USDC",
      amount: Number(agent.definition.priceMicro),
      tx_signature: signature,
      output_data: outcome.output,
      status: "completed",
      created_at: new Date().toISOString(),
    };
    const text = JSON.stringify(receipt);
    const bytes = Buffer.byteLength(text);
    this.receipts.set(receipt.id, { json: text, bytes, createdAt: Date.parse(receipt.created_at) });
    this.receiptBytes += bytes;
    return json(200, {
      ok: true,
      output: outcome.output,
      tx_signature: signature,
      receipt_id: receipt.id,
      agent_received: Number(ownerMicro),
      protocol_fee: Number(protocolMicro),
    });
  }

  /**
   * The agent's endpoint: a signed request, verified by the agent, cut off at its type's timeout.
   * The agents live in this process, so the request goes to them as its body and signature header
   * rather than as a fetch Request and Response: the same bytes are signed, verified and parsed.
   */
  private async invokeAgent(agent: Agent, body: AgentRequestBody): Promise<{ ok: true; output: unknown } | { ok: false; error: string }> {
    const raw = JSON.stringify(body);
    const type = agent.definition.agentType ?? "simple";
    const limitMs = AGENT_TYPE_TIMEOUT_MS[type] * (this.options.timeScale ?? 1);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), limitMs)));
    try {
      const answered = serveAgent(agent.definition, agent.secret, raw, signAgentRequest(agent.secret, raw));
      const response = await Promise.race([answered, timeout]);
      if (response === null) return { ok: false, error: `Agent timeout (${AGENT_TYPE_TIMEOUT_MS[type] / 1000}s limit exceeded)` };
      const answer = JSON.parse(response.body) as { output?: unknown; error?: string };
      return response.status === 200
        ? { ok: true, output: answer.output }
        : { ok: false, error: answer.error ?? `agent answered ${response.status}` };
    } finally {
      clearTimeout(timer);
    }
  }
}

/** An agent's answer: its HTTP status and its JSON body, as the agent wrote it. */
export interface AgentAnswer {
  status: number;
  body: string;
}

/**
 * An agent's endpoint, given the request's raw body and its X-Tetto-Signature header: refuses any
 * request whose signature does not verify (401), and runs nothing then.
 */
export async function serveAgent(
  definition: LocalAgentDefinition,
  secret: string,
  raw: string,
  signature: string | null,
): Promise<AgentAnswer> {
  if (!verifyAgentRequest(secret, raw, signature)) return { status: 401, body: JSON.stringify({ error: "invalid signature" }) };
  const body = JSON.parse(raw) as AgentRequestBody;
  try {
    return {
      status: 200,
      body: JSON.stringify({ output: await definition.handle(body.input, { callerWallet: body.tetto_context.caller_wallet }) }),
    };
  } catch (error) {
    return { status: 500, body: JSON.stringify({ error: error instanceof Error ? error.message : "agent error" }) };
  }
}

/** One of the marketplace's HTTP answers: its status, its headers (names in lower case) and its JSON text. */
export interface LocalAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): LocalAnswer {
  return { status, headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) };
}

/** A LocalAnswer as the client reads an HTTP answer (HttpAnswer): what a fetch Response gives, without its body stream. */
class InProcessAnswer implements HttpAnswer {
  readonly status: number;
  readonly ok: boolean;
  readonly headers: { get(name: string): string | null };

  constructor(private readonly raw: LocalAnswer) {
    this.status = raw.status;
    this.ok = raw.status >= 200 && raw.status < 300;
    this.headers = { get: (name) => raw.headers[name.toLowerCase()] ?? null };
  }

  async json(): Promise<unknown> {
    return JSON.parse(this.raw.body);
  }
}

async function readBody(init: RequestInit | undefined): Promise<unknown> {
  if (typeof init?.body !== "string") return null;
  try {
    return JSON.parse(init.body);
  } catch {
    return null;
  }
}
