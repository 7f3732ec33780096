import type { z } from "zod";
import {
  agentSchema,
  buildTransactionResponseSchema,
  callResponseSchema,
  listAgentsResponseSchema,
  receiptResponseSchema,
  type MarketplaceAgent,
  type Receipt,
} from "./protocol";
import { logLine } from "@/lib/logger";

/**
 * What the client reads of an HTTP answer: a fetch Response is one. The embedded default's
 * marketplace answers in process with a plain object of the same shape (`LocalMarketplace.fetch`).
 */
export interface HttpAnswer {
  readonly status: number;
  readonly ok: boolean;
  readonly headers: { get(name: string): string | null };
  json(): Promise<unknown>;
}

export type FetchLike = (input: string, init?: RequestInit) => Promise<HttpAnswer>;

/** The marketplace answered, but not with what the protocol says; or did not answer at all. */
export class MarketplaceError extends Error {
  constructor(
    message: string,
    /** 4xx: the request was refused (bad input; 429: too many calls). 5xx/network: the marketplace failed. */
    readonly status: number | null,
    /** With a 429: when to try again (the marketplace's Retry-After, or its "try again in N seconds"). */
    readonly retryAfterSeconds: number | null = null,
  ) {
    super(message);
    this.name = "MarketplaceError";
  }
}

/** The marketplace's answer, with the HTTP status it came with (4xx: refused input). */
export type BuildResult = z.infer<typeof buildTransactionResponseSchema> & { httpStatus: number };
export type CallResult = z.infer<typeof callResponseSchema> & { httpStatus: number };

/** An agent looked up by what the caller wrote: its UUID first, then its name (which must be unique). */
export type AgentLookup =
  | { ok: true; agent: MarketplaceAgent }
  | { ok: false; code: "unknown_agent" }
  | { ok: false; code: "ambiguous_agent"; ids: string[] };

export interface MarketplaceClientOptions {
  catalogTtlMs?: number;
  /** For the catalog, building a payment and reading a receipt. An agent call waits as long as its type needs. */
  timeoutMs?: number;
  now?: () => number;
  /** Where a catalog entry that does not parse is reported (it is skipped, never the whole catalog). */
  log?: (line: string) => void;
}

/**
 * HTTP client of the marketplace (`{api}/api/agents…`). The catalog is cached for `catalogTtlMs`;
 * every answer is parsed, so a malformed one is an error and never trusted.
 */
export class MarketplaceClient {
  private catalog: { agents: MarketplaceAgent[]; at: number } | null = null;
  private loading: Promise<MarketplaceAgent[]> | null = null;

  constructor(
    private readonly apiUrl: string,
    private readonly fetchImpl: FetchLike = fetch,
    private readonly options: MarketplaceClientOptions = {},
  ) {}

  async listAgents(): Promise<MarketplaceAgent[]> {
    const now = (this.options.now ?? Date.now)();
    if (this.catalog && now - this.catalog.at < (this.options.catalogTtlMs ?? 60_000)) return this.catalog.agents;
    this.loading ??= this.request("GET", "/api/agents", undefined, listAgentsResponseSchema)
      .then(({ data }) => {
        const agents = this.parseAgents(data.agents);
        this.catalog = { agents, at: (this.options.now ?? Date.now)() };
        return agents;
      })
      .finally(() => {
        this.loading = null;
      });
    return this.loading;
  }

  /** Each entry on its own: a malformed agent is skipped and logged; a null optional field takes the SDK's default. */
  private parseAgents(entries: unknown[]): MarketplaceAgent[] {
    const agents: MarketplaceAgent[] = [];
    for (const [index, entry] of entries.entries()) {
      const parsed = agentSchema.safeParse(entry);
      if (parsed.success) {
        agents.push(parsed.data);
        continue;
      }
      const id = typeof (entry as { id?: unknown })?.id === "string" ? (entry as { id: string }).id : `#${index}`;
      const fields = [...new Set(parsed.error.issues.map((issue) => issue.path.join(".") || "agent"))].join(", ");
      (this.options.log ?? logLine("warn"))(`[tdk] marketplace catalog: skipped agent ${id.slice(0, 64)} (invalid ${fields})`);
    }
    return agents;
  }

  /**
   * By UUID first, then by name (case-insensitive). An agent whose *name* is another agent's UUID
   * never captures that agent's calls; a name several agents share is ambiguous, not first-come.
   */
  async findAgent(idOrName: string): Promise<AgentLookup> {
    const wanted = idOrName.trim().toLowerCase();
    const agents = await this.listAgents();
    const byId = agents.filter((agent) => agent.id.toLowerCase() === wanted);
    if (byId.length === 1) return { ok: true, agent: byId[0]! };
    const matches = byId.length > 1 ? byId : agents.filter((agent) => agent.name.toLowerCase() === wanted);
    if (matches.length === 0) return { ok: false, code: "unknown_agent" };
    if (matches.length > 1) return { ok: false, code: "ambiguous_agent", ids: matches.map((agent) => agent.id) };
    return { ok: true, agent: matches[0]! };
  }

  /** The marketplace's receipt of a paid call: how a paid answer that never reached us is read later. */
  async getReceipt(id: string): Promise<Receipt> {
    return (await this.request("GET", `/api/receipts/${encodeURIComponent(id)}`, undefined, receiptResponseSchema)).data.receipt;
  }

  async buildTransaction(agentId: string, payerWallet: string, input: unknown): Promise<BuildResult> {
    const { data, status } = await this.request(
      "POST",
      `/api/agents/${encodeURIComponent(agentId)}/build-transaction`,
      { payer_wallet: payerWallet, selected_token: "USDC", input },
      buildTransactionResponseSchema,
      true,
    );
    return { ...data, httpStatus: status };
  }

  /** Waits `timeoutMs`: the agent's type timeout plus the time to submit the payment, never the 30 s of a catalog read. */
  async callAgent(paymentIntentId: string, signedTransaction: string, timeoutMs: number): Promise<CallResult> {
    const body = { payment_intent_id: paymentIntentId, signed_transaction: signedTransaction };
    const { data, status } = await this.request("POST", "/api/agents/call", body, callResponseSchema, true, timeoutMs);
    return { ...data, httpStatus: status };
  }

  private async request<S extends z.ZodType>(
    method: string,
    path: string,
    body: unknown,
    schema: S,
    errorBodiesAreAnswers = false,
    timeoutMs = this.options.timeoutMs ?? 30_000,
  ): Promise<{ data: z.infer<S>; status: number }> {
    // The answer, body included, within `timeoutMs`. A timer cleared as soon as the answer is read,
    // not `AbortSignal.timeout`: its timer and signal outlive the request by the whole timeout (up
    // to minutes for a paid call), which under load kept every recent request's signal in memory.
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(new DOMException(`no answer within ${timeoutMs} ms`, "TimeoutError")), timeoutMs);
    let response: HttpAnswer;
    let json: unknown;
    try {
      try {
        response = await this.fetchImpl(`${this.apiUrl.replace(/\/$/, "")}${path}`, {
          method,
          headers: body === undefined ? { accept: "application/json" } : { accept: "application/json", "content-type": "application/json" },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: abort.signal,
        });
      } catch (error) {
        throw new MarketplaceError(`Marketplace unreachable: ${(error as Error).message}`, null);
      }
      try {
        json = await response.json();
      } catch {
        // Below: a 429 needs no body; anything else does.
      }
    } finally {
      clearTimeout(timer);
    }
    if (response.status === 429) {
      const message = (json as { error?: unknown } | undefined)?.error;
      const text = typeof message === "string" ? message : "Rate limit exceeded";
      throw new MarketplaceError(text, 429, retryAfterSeconds(response.headers.get("retry-after"), text));
    }
    if (json === undefined) throw new MarketplaceError(`Marketplace answered ${response.status} without JSON`, response.status);
    // Build and call answer {ok:false, error} on failure, often with a 4xx/5xx status: that is an answer.
    if (!response.ok && !(errorBodiesAreAnswers && (json as { ok?: unknown })?.ok === false)) {
      const message = (json as { error?: unknown })?.error;
      throw new MarketplaceError(typeof message === "string" ? message : `Marketplace answered ${response.status}`, response.status);
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) throw new MarketplaceError(`Marketplace answer does not follow the protocol (${path})`, response.status);
    return { data: parsed.data, status: response.status };
  }
}

/** Retry-After in seconds (delta or HTTP date), else the marketplace's "Try again in N seconds", else a minute (its window). */
function retryAfterSeconds(header: string | null, message: string): number {
  if (header) {
    const seconds = /^\d+$/.test(header.trim()) ? Number(header) : Math.ceil((Date.parse(header) - Date.now()) / 1000);
    if (Number.isFinite(seconds) && seconds > 0) return Math.min(seconds, 3_600);
  }
  const said = /try again in (\d+) second/i.exec(message);
  return said ? Math.max(1, Math.min(Number(said[1]), 3_600)) : 60;
}
