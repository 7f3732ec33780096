import path from "node:path";
import type { KeyRing } from "@/lib/crypto/secret-box";
import { loadKeyRing } from "@/lib/crypto/key-ring";
import { openDatabase, type Database } from "@/lib/db";
import { parseEnv, type Env } from "@/lib/env";
import type { RateLimiter } from "@/lib/ratelimit/types";
import { MemoryRateLimiter } from "@/lib/ratelimit/memory";
import type { Ledger } from "@/lib/solana/ledger";
import type { LocalLedger } from "@/lib/solana/local-ledger";
import { MarketplaceClient } from "@/lib/agents/marketplace-client";
import type { LocalMarketplace } from "@/lib/agents/local-marketplace";
import { PublicKey } from "@solana/web3.js";
import Stripe from "stripe";

/**
 * Everything a request needs, built once per process from the environment. Route bundles may
 * load this module more than once, so the context lives on globalThis. Tests hand in their own
 * context built from real local parts (`setAppContext`).
 */
export interface AppContext {
  env: Env;
  db: Database;
  ledger: Ledger;
  ring: KeyRing;
  limiter: RateLimiter;
  agents: AgentMarketplace;
  /** Null when Stripe is not configured: billing is off, usage stays unreported. */
  stripe: Stripe | null;
}

/** The agent marketplace: its client, and the protocol wallet payments may go to. */
export interface AgentMarketplace {
  client: MarketplaceClient;
  protocolWallet: PublicKey;
  /** The in-process marketplace of the embedded default; null against the real one. */
  local: LocalMarketplace | null;
}

const holder = globalThis as { __tdkAppContext?: Promise<AppContext> };

export function getAppContext(): Promise<AppContext> {
  holder.__tdkAppContext ??= buildAppContext(parseEnv(process.env)).catch((error: unknown) => {
    holder.__tdkAppContext = undefined;
    throw error;
  });
  return holder.__tdkAppContext;
}

export function setAppContext(context: AppContext | null): void {
  holder.__tdkAppContext = context ? Promise.resolve(context) : undefined;
}

export async function buildAppContext(env: Env): Promise<AppContext> {
  const [db, ring] = await Promise.all([openDatabase(env), loadKeyRing(env)]);
  const ledger = await openLedger(env);
  if (ledger.kind === "local") {
    const { ensureEmbeddedTreasury } = await import("@/lib/solana/treasury");
    await ensureEmbeddedTreasury(db, ring, ledger as LocalLedger, env.treasuryFloat);
  }
  const [limiter, agents] = await Promise.all([openRateLimiter(env), openMarketplace(env, ledger)]);
  const stripe = env.stripe ? createStripeClient(env.stripe) : null;
  return { env, db, ledger, ring, limiter, agents, stripe };
}

function createStripeClient(config: NonNullable<Env["stripe"]>): Stripe {
  const base = config.apiBase ? new URL(config.apiBase) : null;
  return new Stripe(config.secretKey, {
    maxNetworkRetries: 2,
    telemetry: false,
    timeout: 20_000,
    ...(base && {
      host: base.hostname,
      port: base.port || (base.protocol === "https:" ? 443 : 80),
      protocol: base.protocol.replace(":", "") as "http" | "https",
    }),
  });
}

async function openMarketplace(env: Env, ledger: Ledger): Promise<AgentMarketplace> {
  if (env.marketplace.kind === "remote") {
    return {
      client: new MarketplaceClient(env.marketplace.apiUrl),
      protocolWallet: new PublicKey(env.marketplace.protocolWallet),
      local: null,
    };
  }
  const [{ LocalMarketplace }, { demoAgents }] = await Promise.all([
    import("@/lib/agents/local-marketplace"),
    import("@/lib/agents/demo-agents"),
  ]);
  // The demo marketplace limits each wallet as the real one does: what works here works there.
  const options = { callsPerWalletPerMinute: env.agentCalls.walletCallsPerMinute };
  // On the request thread, with the embedded ledger, on purpose. Both on a worker thread of their
  // own (as PGlite is) was built and measured (issue 11, stop 32): a paid call's request thread
  // went from 2.68–2.90 to 2.34–2.42 ms, but the machine's CPU a call from 5.17–5.72 to 6.16–6.23
  // ms, and throughput fell (305–339 → 284–294 calls/s): four round trips a call to a third busy
  // thread on two cores cost more in messages and wake-ups than the work they moved.
  return localMarketplaceAgents(await LocalMarketplace.create(ledger as LocalLedger, demoAgents(), options));
}

/** The client speaks HTTP to the in-process marketplace through its fetch handler: same code path. */
export function localMarketplaceAgents(local: LocalMarketplace): AgentMarketplace {
  return { client: new MarketplaceClient(local.apiUrl, local.fetch), protocolWallet: local.protocolWallet, local };
}

/** The configured chain: the RPC ledger, or the embedded one in the data directory (one process opens it at a time). */
export async function openLedger(env: Env): Promise<Ledger> {
  if (env.ledger.kind === "rpc") {
    const { RpcLedger } = await import("@/lib/solana/rpc-ledger");
    return new RpcLedger(env.ledger.rpcUrl, env.ledger.usdcMint);
  }
  const { LocalLedger } = await import("@/lib/solana/local-ledger");
  return LocalLedger.open(path.join(env.dataDir, "ledger"));
}

async function openRateLimiter(env: Env): Promise<RateLimiter> {
  if (env.upstash) {
    const { UpstashRateLimiter } = await import("@/lib/ratelimit/upstash");
    return new UpstashRateLimiter(env.upstash);
  }
  return new MemoryRateLimiter();
}
