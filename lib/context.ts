import path from "node:path";
import type { KeyRing } from "@/lib/crypto/secret-box";
import { loadKeyRing } from "@/lib/crypto/key-ring";
import { openDatabase, type Database } from "@/lib/db";
import { parseEnv, type Env } from "@/lib/env";
import type { RateLimiter } from "@/lib/ratelimit/types";
import { MemoryRateLimiter } from "@/lib/ratelimit/memory";
import type { Ledger } from "@/lib/solana/ledger";

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
    await ensureEmbeddedTreasury(db, ring, ledger as import("@/lib/solana/local-ledger").LocalLedger, env.treasuryFloat);
  }
  const limiter = await openRateLimiter(env);
  return { env, db, ledger, ring, limiter };
}

async function openLedger(env: Env): Promise<Ledger> {
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
