import type { z } from "zod";
import {
  buildTransactionResponseSchema,
  callResponseSchema,
  getAgentResponseSchema,
  listAgentsResponseSchema,
  type MarketplaceAgent,
} from "./protocol";

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

/** The marketplace answered, but not with what the protocol says; or did not answer at all. */
export class MarketplaceError extends Error {
  constructor(
    message: string,
    /** 4xx: the request was refused (bad input). 5xx/network: the marketplace failed. */
    readonly status: number | null,
  ) {
    super(message);
    this.name = "MarketplaceError";
  }
}

/** The marketplace's answer, with the HTTP status it came with (4xx: refused input). */
export type BuildResult = z.infer<typeof buildTransactionResponseSchema> & { httpStatus: number };
export type CallResult = z.infer<typeof callResponseSchema> & { httpStatus: number };

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
    private readonly options: { catalogTtlMs?: number; timeoutMs?: number; now?: () => number } = {},
  ) {}

  async listAgents(): Promise<MarketplaceAgent[]> {
    const now = (this.options.now ?? Date.now)();
    if (this.catalog && now - this.catalog.at < (this.options.catalogTtlMs ?? 60_000)) return this.catalog.agents;
    this.loading ??= this.request("GET", "/api/agents", undefined, listAgentsResponseSchema)
      .then(({ data: { agents } }) => {
        this.catalog = { agents, at: (this.options.now ?? Date.now)() };
        return agents;
      })
      .finally(() => {
        this.loading = null;
      });
    return this.loading;
  }

  /** By UUID or by name (case-insensitive), from the cached catalog; null when unknown. */
  async findAgent(idOrName: string): Promise<MarketplaceAgent | null> {
    const wanted = idOrName.trim().toLowerCase();
    const agents = await this.listAgents();
    return agents.find((agent) => agent.id.toLowerCase() === wanted || agent.name.toLowerCase() === wanted) ?? null;
  }

  async getAgent(id: string): Promise<MarketplaceAgent> {
    return (await this.request("GET", `/api/agents/${encodeURIComponent(id)}`, undefined, getAgentResponseSchema)).data.agent;
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

  async callAgent(paymentIntentId: string, signedTransaction: string): Promise<CallResult> {
    const body = { payment_intent_id: paymentIntentId, signed_transaction: signedTransaction };
    const { data, status } = await this.request("POST", "/api/agents/call", body, callResponseSchema, true);
    return { ...data, httpStatus: status };
  }

  private async request<S extends z.ZodType>(
    method: string,
    path: string,
    body: unknown,
    schema: S,
    errorBodiesAreAnswers = false,
  ): Promise<{ data: z.infer<S>; status: number }> {
    let response: Response;
    try {
      response = await this.fetchImpl(`${this.apiUrl.replace(/\/$/, "")}${path}`, {
        method,
        headers: body === undefined ? { accept: "application/json" } : { accept: "application/json", "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 30_000),
      });
    } catch (error) {
      throw new MarketplaceError(`Marketplace unreachable: ${(error as Error).message}`, null);
    }
    let json: unknown;
    try {
      json = await response.json();
    } catch {
      throw new MarketplaceError(`Marketplace answered ${response.status} without JSON`, response.status);
    }
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
