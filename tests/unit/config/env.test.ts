import { describe, expect, it } from "vitest";
import { EnvError, parseEnv } from "@/lib/env";

const key = "ab".repeat(32);

describe("configuration (lib/env.ts)", () => {
  it("runs every part embedded when nothing is set", () => {
    const env = parseEnv({});
    expect(env.database).toEqual({ kind: "pglite", thread: "worker" });
    expect(env.ledger).toEqual({ kind: "local" });
    expect(env.stripe).toBeNull();
    expect(env.upstash).toBeNull();
    expect(env.cronSecret).toBeNull();
    expect(env.encryption).toBeNull();
    expect(env.keys.mode).toBe("test");
    expect(env.funding).toEqual({ initialUsdcMicro: 10_000_000n, initialSolLamports: 10_000_000n });
  });

  it("switches each part to production when its group is set", () => {
    const env = parseEnv({
      SUPABASE_URL: "https://project.supabase.co",
      SUPABASE_SERVICE_ROLE_KEY: "service",
      SOLANA_RPC_URL: "https://rpc.example",
      USDC_MINT: "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v",
      TETTO_API_URL: "https://tetto.example",
      TETTO_PROTOCOL_WALLET: "protocol",
      UPSTASH_REDIS_REST_URL: "https://redis.example",
      UPSTASH_REDIS_REST_TOKEN: "token",
      STRIPE_SECRET_KEY: "sk_test_x",
      STRIPE_WEBHOOK_SECRET: "whsec_x",
      WALLET_ENCRYPTION_KEY: key,
      NODE_ENV: "production",
    });
    expect(env.database).toMatchObject({ kind: "supabase", url: "https://project.supabase.co" });
    expect(env.ledger).toMatchObject({ kind: "rpc" });
    expect(env.upstash).not.toBeNull();
    expect(env.stripe).not.toBeNull();
    expect(env.keys.mode).toBe("live");
    expect(env.encryption?.current.version).toBe(1);
  });

  it("refuses a half-configured group, naming what is missing", () => {
    expect(() => parseEnv({ SUPABASE_URL: "https://project.supabase.co" })).toThrow(/SUPABASE_SERVICE_ROLE_KEY is not/);
    expect(() => parseEnv({ SOLANA_RPC_URL: "https://rpc.example" })).toThrow(/USDC_MINT is not/);
    expect(() => parseEnv({ UPSTASH_REDIS_REST_TOKEN: "t" })).toThrow(/UPSTASH_REDIS_REST_URL is not/);
  });

  it("refuses an embedded database or ledger in production unless TDK_ALLOW_EMBEDDED=1", () => {
    expect(() => parseEnv({ NODE_ENV: "production", WALLET_ENCRYPTION_KEY: key })).toThrow(EnvError);
    expect(() => parseEnv({ NODE_ENV: "production", WALLET_ENCRYPTION_KEY: key })).toThrow(/TDK_ALLOW_EMBEDDED=1/);
    expect(() => parseEnv({ NODE_ENV: "production", DATABASE_URL: "postgres://db/x", WALLET_ENCRYPTION_KEY: key })).toThrow(
      /Solana ledger/,
    );
    expect(parseEnv({ NODE_ENV: "production", TDK_ALLOW_EMBEDDED: "1", TDK_ALLOW_MEMORY_LIMITER: "1" }).database.kind).toBe("pglite");
  });

  it("refuses production without a shared rate limiter unless TDK_ALLOW_MEMORY_LIMITER=1", () => {
    const embedded = { NODE_ENV: "production", TDK_ALLOW_EMBEDDED: "1" };
    expect(() => parseEnv(embedded)).toThrow(/without a shared rate limiter: set UPSTASH_REDIS_REST_URL \+ UPSTASH_REDIS_REST_TOKEN/);
    expect(parseEnv({ ...embedded, TDK_ALLOW_MEMORY_LIMITER: "1" }).upstash).toBeNull();
    expect(
      parseEnv({ ...embedded, UPSTASH_REDIS_REST_URL: "https://redis.example", UPSTASH_REDIS_REST_TOKEN: "t" }).upstash,
    ).not.toBeNull();
    // Development keeps the in-process limiter without asking.
    expect(parseEnv({}).upstash).toBeNull();
  });

  it("requires the wallet encryption key in production and validates its form without echoing it", () => {
    const production = {
      NODE_ENV: "production",
      DATABASE_URL: "postgres://db/x",
      SOLANA_RPC_URL: "https://rpc.example",
      USDC_MINT: "mint",
      TETTO_API_URL: "https://tetto.example",
      TETTO_PROTOCOL_WALLET: "protocol",
    };
    expect(() => parseEnv(production)).toThrow(/WALLET_ENCRYPTION_KEY is required/);
    const secretLooking = "zz-secret-value-zz";
    try {
      parseEnv({ WALLET_ENCRYPTION_KEY: secretLooking });
      expect.unreachable();
    } catch (error) {
      expect((error as Error).message).toMatch(/WALLET_ENCRYPTION_KEY: must be 64 hex characters/);
      expect((error as Error).message).not.toContain(secretLooking);
    }
  });

  it("parses decrypt-only old keys and refuses a clash with the current version", () => {
    const env = parseEnv({
      WALLET_ENCRYPTION_KEY: key,
      WALLET_ENCRYPTION_KEY_VERSION: "2",
      WALLET_ENCRYPTION_OLD_KEYS: `1:${"cd".repeat(32)}`,
    });
    expect(env.encryption?.decryptOnly.map((old) => old.version)).toEqual([1]);
    expect(() => parseEnv({ WALLET_ENCRYPTION_KEY: key, WALLET_ENCRYPTION_OLD_KEYS: `1:${"cd".repeat(32)}` })).toThrow(
      /must not contain the current/,
    );
    expect(() => parseEnv({ WALLET_ENCRYPTION_OLD_KEYS: "garbage" })).toThrow(/version:64-hex-chars/);
  });

  it("reads the markup, the free quota and the top-up targets, and pairs marketplace with chain", () => {
    const env = parseEnv({ TDK_MARKUP_PCT: "12.5", FREE_MONTHLY_QUOTA: "10" });
    expect(env.pricing).toEqual({ markupBps: 1250, freeMonthlyQuota: 10 });
    expect(parseEnv({}).pricing.markupBps).toBe(5000);
    expect(env.topup).toEqual({ lowWaterUsdcMicro: 2_000_000n, targetUsdcMicro: 10_000_000n });
    expect(() => parseEnv({ TDK_MARKUP_PCT: "1.234" })).toThrow(/TDK_MARKUP_PCT/);
    expect(() => parseEnv({ SOLANA_RPC_URL: "https://rpc.example", USDC_MINT: "mint" })).toThrow(
      /local marketplace runs on the local ledger/,
    );
    expect(() => parseEnv({ TETTO_API_URL: "https://t.example", TETTO_PROTOCOL_WALLET: "p" })).toThrow(/real chain/);
  });

  it("reads every money limit, with defaults that keep a free account small and let a pro account spend far beyond $50 a day", () => {
    const { limits } = parseEnv({});
    expect(limits.freeMonthlyAllowanceMicro).toBe(5_000_000n);
    expect(limits.maxAgentPriceMicro).toBe(1_000_000n);
    expect(limits.breaker).toEqual({ failures: 5, windowSeconds: 600, cooldownSeconds: 600 });
    expect(limits.agentFailedDailyCapMicro).toEqual({ paid: 10_000_000n, pro: 100_000_000n });
    expect(limits.funding.treasuryDaily).toEqual({ usdcMicro: 10_000_000_000n, solLamports: 20_000_000_000n });
    expect(limits.funding.tiers.free.accountDaily).toEqual({ usdcMicro: 5_000_000n, solLamports: 50_000_000n });
    expect(limits.funding.tiers.pro.accountDaily.usdcMicro).toBeGreaterThan(50_000_000n * 10n);
    expect(limits.funding.tiers.pro.keyDaily.usdcMicro).toBeGreaterThan(50_000_000n * 10n);

    const custom = parseEnv({
      FUNDING_CAP_PAID_ACCOUNT_DAILY_SOL_LAMPORTS: "7",
      FREE_MONTHLY_ALLOWANCE_MICRO: "0",
      KEYS_CREATED_PER_ACCOUNT_DAILY: "3",
    });
    expect(custom.limits.funding.tiers.paid.accountDaily.solLamports).toBe(7n);
    expect(custom.limits.freeMonthlyAllowanceMicro).toBe(0n);
    expect(custom.keys.createdPerDay).toBe(3);
    expect(() => parseEnv({ KEYS_CREATED_PER_ACCOUNT_DAILY: "0" })).toThrow(/KEYS_CREATED_PER_ACCOUNT_DAILY/);
  });

  it("refuses the renamed cap variables instead of running uncapped", () => {
    expect(() => parseEnv({ TOPUP_KEY_DAILY_CAP_MICRO: "50000000" })).toThrow(
      /TOPUP_KEY_DAILY_CAP_MICRO was replaced by FUNDING_CAP_<TIER>_KEY_DAILY_USDC_MICRO/,
    );
    expect(() => parseEnv({ TOPUP_TOTAL_DAILY_CAP_MICRO: "1" })).toThrow(/FUNDING_CAP_TREASURY_DAILY_USDC_MICRO/);
  });

  it("refuses both database backends at once and bad numbers", () => {
    expect(() =>
      parseEnv({ DATABASE_URL: "postgres://db/x", SUPABASE_URL: "https://p.supabase.co", SUPABASE_SERVICE_ROLE_KEY: "k" }),
    ).toThrow(/not both/);
    expect(() => parseEnv({ WALLET_INITIAL_USDC_MICRO: "-5" })).toThrow(/WALLET_INITIAL_USDC_MICRO/);
    expect(() => parseEnv({ CRON_SECRET: "short" })).toThrow(/CRON_SECRET/);
  });

  it("reads DATABASE_POOL_MAX: 4 connections unless set, at least 1; POSTGRES_THREAD: worker unless main", () => {
    expect(parseEnv({ DATABASE_URL: "postgres://db/x" }).database).toEqual({
      kind: "postgres",
      url: "postgres://db/x",
      poolMax: 4,
      thread: "worker",
    });
    expect(parseEnv({ DATABASE_URL: "postgres://db/x", POSTGRES_THREAD: "main" }).database).toMatchObject({ thread: "main" });
    expect(() => parseEnv({ DATABASE_URL: "postgres://db/x", POSTGRES_THREAD: "both" })).toThrow(/POSTGRES_THREAD/);
    expect(parseEnv({ DATABASE_URL: "postgres://db/x", DATABASE_POOL_MAX: "12" }).database).toMatchObject({ poolMax: 12 });
    for (const bad of ["0", "-1", "2.5", "many"]) {
      expect(() => parseEnv({ DATABASE_URL: "postgres://db/x", DATABASE_POOL_MAX: bad })).toThrow(/DATABASE_POOL_MAX/);
    }
  });
});
