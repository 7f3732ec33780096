import { randomBytes } from "node:crypto";
import { NextRequest } from "next/server";
import { recordSecret, recordSecretsOf } from "./secrets";
import { parseEnv } from "@/lib/env";
import { setAppContext, type AppContext } from "@/lib/context";
import type { Database } from "@/lib/db";
import { PGliteDatabase } from "@/lib/db/pglite";
import { MemoryRateLimiter } from "@/lib/ratelimit/memory";
import type { FaucetLedger } from "@/lib/solana/ledger";
import { LocalLedger } from "@/lib/solana/local-ledger";
import { LocalnetLedger, sharedRpcProcess } from "./local-rpc";
import { ensureEmbeddedTreasury } from "@/lib/solana/treasury";
import { localMarketplaceAgents } from "@/lib/context";
import { LocalMarketplace, type LocalMarketplaceOptions } from "@/lib/agents/local-marketplace";
import { MarketplaceClient, type MarketplaceClientOptions } from "@/lib/agents/marketplace-client";
import { PublicKey } from "@solana/web3.js";
import { demoAgents, type LocalAgentDefinition } from "@/lib/agents/demo-agents";
import { paidCall, type CallDeps, type CallRequest } from "@/lib/calls/paid-call";
import { callAnswer } from "@/lib/http/call-answer";
import type { VerifiedKey } from "@/lib/keys/schemas";

/**
 * A real application context for tests: real database (PGlite in memory unless one is given),
 * real local ledger (in memory unless a directory is given), real rate limiter. Nothing of ours is mocked.
 */
export async function createTestApp(
  options: {
    db?: Database;
    env?: Record<string, string>;
    agents?: LocalAgentDefinition[];
    stripe?: import("stripe").default;
    ledgerDir?: string;
    /** The local marketplace behaves like the real one unless told otherwise (e.g. `memo` for load tests). */
    marketplace?: LocalMarketplaceOptions;
    /**
     * The chain: the embedded ledger, or the production `RpcLedger` on the local JSON-RPC cluster
     * (its own process). Default: `TEST_LEDGER` (the "rpc-ledger" test project sets it).
     */
    ledger?: "local" | "rpc";
    /** A particular local cluster (its own process) instead of the file's shared one; implies `ledger: "rpc"`. */
    chain?: { url: string; usdcMint: string };
    /** A marketplace over HTTP (scripts/local-marketplace.ts) instead of the in-process one. */
    remoteMarketplace?: { url: string; protocolWallet: string; client?: MarketplaceClientOptions };
  } = {},
): Promise<AppContext> {
  const masterKey = randomBytes(32).toString("hex");
  recordSecret(masterKey);
  for (const name of ["STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "CRON_SECRET", "WALLET_ENCRYPTION_KEY"])
    recordSecret(options.env?.[name]);
  const env = parseEnv({
    NODE_ENV: "test",
    // Tests of other things make many calls per key; the marketplace's per-wallet limit has its own tests.
    MARKETPLACE_CALLS_PER_WALLET_PER_MINUTE: "0",
    WALLET_ENCRYPTION_KEY: masterKey,
    TREASURY_FLOAT_USDC_MICRO: "1000000000",
    TREASURY_FLOAT_SOL_LAMPORTS: "1000000000",
    ...options.env,
  });
  const db = options.db ?? (await PGliteDatabase.open(null));
  const chain = options.chain ? "rpc" : (options.ledger ?? (process.env.TEST_LEDGER === "rpc" && !options.ledgerDir ? "rpc" : "local"));
  let ledger: FaucetLedger;
  if (chain === "rpc") {
    const rpc = options.chain ?? (await sharedRpcProcess());
    ledger = new LocalnetLedger(rpc.url, rpc.usdcMint);
  } else {
    ledger = await LocalLedger.open(options.ledgerDir ?? null);
  }
  await ensureEmbeddedTreasury(db, env.encryption!, ledger, env.treasuryFloat);
  const remote = options.remoteMarketplace;
  const agents = remote
    ? { client: new MarketplaceClient(remote.url, fetch, remote.client), protocolWallet: new PublicKey(remote.protocolWallet), local: null }
    : localMarketplaceAgents(
        await LocalMarketplace.create(ledger, options.agents ?? demoAgents(), {
          callsPerWalletPerMinute: env.agentCalls.walletCallsPerMinute,
          ...options.marketplace,
        }),
      );
  const app: AppContext = {
    env,
    db,
    ledger,
    ring: env.encryption!,
    limiter: new MemoryRateLimiter(),
    agents,
    stripe: options.stripe ?? null,
  };
  setAppContext(app);
  return app;
}

// Route params differ per route; the helper passes whatever the test gives.
type RouteHandler = (request: NextRequest, context: { params: Promise<any> }) => Promise<Response>;

export interface CallOptions {
  body?: unknown;
  rawBody?: string;
  headers?: Record<string, string>;
  params?: Record<string, string>;
  cookie?: string;
  bearer?: string;
}

const ORIGIN = "http://localhost:3000";

/** Calls a route handler exactly as Next.js would, with a real Request. */
export async function callRoute(handler: RouteHandler, method: string, path: string, options: CallOptions = {}) {
  const headers: Record<string, string> = { host: "localhost:3000", "x-forwarded-for": "198.51.100.7", ...options.headers };
  let body: string | undefined = options.rawBody;
  if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers["content-type"] ??= "application/json";
  }
  if (options.cookie) headers.cookie = options.cookie;
  if (options.bearer) headers.authorization = `Bearer ${options.bearer}`;
  const request = new NextRequest(new URL(path, ORIGIN), { method, headers, body });
  const response = await handler(request, { params: Promise.resolve(options.params ?? {}) });
  const text = await response.text();
  let json: any = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = text;
  }
  recordSecretsOf(json, response.headers.get("set-cookie"));
  return { status: response.status, headers: response.headers, json, text };
}

export const origin = ORIGIN;

/**
 * A POST whose body stops part-way, as Node's HTTP server hands a route the request of a client
 * that closed its connection mid-body: `sent`, then the body stream errors with "aborted".
 */
export function requestCutShort(path: string, sent: string, headers: Record<string, string> = {}): NextRequest {
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new TextEncoder().encode(sent));
      controller.error(new Error("aborted"));
    },
  });
  // A streamed body needs `duplex: "half"`, which the RequestInit type does not know yet.
  const init = {
    method: "POST",
    headers: { host: "localhost:3000", "x-forwarded-for": "198.51.100.7", "content-type": "application/json", ...headers },
    body,
    duplex: "half",
  } as unknown as ConstructorParameters<typeof NextRequest>[1];
  return new NextRequest(new URL(path, ORIGIN), init);
}

let counter = 0;
export function uniqueEmail(label = "dev"): string {
  counter += 1;
  return `${label}-${process.pid}-${Date.now()}-${counter}@example.com`;
}

export const strongPassword = "correct-horse-42-battery";

/**
 * An account with one funded key, created through the domain functions the routes use. With Stripe
 * on, a free account has verified a card first (a fresh fingerprint), as it must to be funded;
 * `verifyCard: false` leaves it unverified.
 */
export async function createKeyedAccount(
  app: AppContext,
  options: { tier?: "free" | "paid" | "pro"; label?: string; verifyCard?: boolean } = {},
) {
  const { registerAccount } = await import("@/lib/auth/accounts");
  const { createApiKey } = await import("@/lib/keys/keys");
  const { servicesFor } = await import("@/lib/services");
  const { setAccountTier } = await import("@/lib/auth/account-store");
  const { recordCardFingerprint } = await import("@/lib/billing/card");
  const account = await registerAccount(app.db, uniqueEmail(options.label ?? "caller"), strongPassword);
  if (!account.ok) throw new Error(account.code);
  if (options.tier && options.tier !== "free") {
    await setAccountTier(app.db, account.account.id, options.tier);
  }
  if (options.verifyCard ?? app.env.stripe !== null)
    await recordCardFingerprint(app.db, account.account.id, `fp_${randomBytes(8).toString("hex")}`);
  const key = await createApiKey(await servicesFor(app).keys.deps(), account.account.id, "test key");
  if (!key.ok) throw new Error(key.code);
  recordSecret(key.apiKey);
  return { accountId: account.account.id, email: account.account.email, apiKey: key.apiKey, key: key.key };
}

/** A Database that writes down, in order, the SQL functions called through it (a paid call's round trips). */
export function countingDatabase(db: Database) {
  const called: string[] = [];
  const counting: Database = {
    kind: db.kind,
    ping: () => db.ping(),
    close: () => db.close(),
    call: (fn, args) => {
      called.push(fn);
      return db.call(fn, args);
    },
  };
  return { db: counting, called };
}

/** Raw SQL on the test database, whichever backend it is (for assertions, never for the code under test). */
export async function sql<T = Record<string, unknown>>(db: Database, text: string, params: unknown[] = []): Promise<T[]> {
  const raw = db as unknown as {
    pg?: { query(text: string, params: unknown[]): Promise<{ rows: T[] }> };
    pool?: { query(text: string, params: unknown[]): Promise<{ rows: T[] }> };
  };
  const client = raw.pg ?? raw.pool;
  if (!client) throw new Error(`No raw SQL access to a ${db.kind} database`);
  return (await client.query(text, params)).rows;
}

/** The pipeline (its recovery of the key's stale calls included) and the one function that words its outcome, as the call route runs them. */
export async function paidCallAnswer(deps: CallDeps, key: VerifiedKey, request: CallRequest) {
  return callAnswer(await paidCall(deps, key, request), ORIGIN);
}

/** The test chain's faucet: the embedded ledger's, or the local cluster's. */
export function faucetOf(app: AppContext): FaucetLedger {
  return app.ledger as FaucetLedger;
}

/** The chain moves on past every blockhash handed out so far, on either test chain. */
export async function expireBlockhashes(app: AppContext): Promise<void> {
  await (app.ledger as LocalLedger | LocalnetLedger).expireBlockhashes();
}
