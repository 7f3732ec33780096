import path from "node:path";
import { z } from "zod";

/**
 * The gateway's whole configuration, parsed once. Optional groups (Supabase, DATABASE_URL, Solana
 * RPC, Stripe, Upstash, cron) parse to `null` and the matching part runs embedded or fails closed.
 * A group that is half set is an error: it is almost always a typo, never an intent.
 */

const emptyToUndefined = (value: unknown) => (typeof value === "string" && value.trim() === "" ? undefined : value);
const optionalString = z.preprocess(emptyToUndefined, z.string().optional());
const optionalUrl = z.preprocess(emptyToUndefined, z.url().optional());
const intWithDefault = (fallback: number, min = 0) => z.preprocess(emptyToUndefined, z.coerce.number().int().min(min).default(fallback));
/**
 * Connections a gateway process holds to DATABASE_URL by default: 4, not node-postgres's 10. Supabase's
 * pooler team recommends one to four a process for serverless deployments (`@supabase/server`'s
 * PostgresPoolOptions.max, default 4), and on this project's bench (issue 11, section 9, PostgreSQL
 * on the same 2 cores) 10 connections cost the database more CPU a paid call than 4 did, for fewer
 * calls a second: a paid call's queries are short and one after the other, so a few connections
 * keep the database busy and more only add backends competing for the cores.
 */
export const DEFAULT_DATABASE_POOL_MAX = 4;

const hex64 = z.string().regex(/^[0-9a-fA-F]{64}$/, "must be 64 hex characters (32 bytes)");

const rawEnvSchema = z.object({
  NODE_ENV: z.preprocess(emptyToUndefined, z.enum(["development", "production", "test"]).default("development")),
  TDK_ALLOW_EMBEDDED: z.preprocess(emptyToUndefined, z.enum(["0", "1"]).default("0")),
  TDK_DATA_DIR: optionalString,
  // Where the embedded database (PGlite) runs: on a thread of its own (default), or on the request thread.
  PGLITE_THREAD: z.preprocess(emptyToUndefined, z.enum(["worker", "main"]).default("worker")),
  APP_URL: optionalUrl,

  DATABASE_URL: optionalUrl,
  // Connections one gateway process holds to DATABASE_URL at most (see DEFAULT_DATABASE_POOL_MAX).
  DATABASE_POOL_MAX: intWithDefault(DEFAULT_DATABASE_POOL_MAX, 1),
  // Where DATABASE_URL's client speaks to it: on a thread of its own (default), or on the request thread.
  POSTGRES_THREAD: z.preprocess(emptyToUndefined, z.enum(["worker", "main"]).default("worker")),
  SUPABASE_URL: optionalUrl,
  SUPABASE_SERVICE_ROLE_KEY: optionalString,

  SOLANA_RPC_URL: optionalUrl,
  USDC_MINT: optionalString,

  WALLET_ENCRYPTION_KEY: z.preprocess(emptyToUndefined, hex64.optional()),
  WALLET_ENCRYPTION_KEY_VERSION: intWithDefault(1, 1),
  WALLET_ENCRYPTION_OLD_KEYS: optionalString,

  WALLET_INITIAL_USDC_MICRO: intWithDefault(10_000_000),
  WALLET_INITIAL_SOL_LAMPORTS: intWithDefault(10_000_000),
  TREASURY_FLOAT_USDC_MICRO: intWithDefault(10_000_000_000),
  TREASURY_FLOAT_SOL_LAMPORTS: intWithDefault(10_000_000_000),
  MAX_KEYS_PER_ACCOUNT: intWithDefault(25, 1),
  SESSION_TTL_HOURS: intWithDefault(168, 1),
  TDK_KEY_MODE: z.preprocess(emptyToUndefined, z.enum(["live", "test"]).optional()),

  TETTO_API_URL: optionalUrl,
  TETTO_PROTOCOL_WALLET: optionalString,
  TDK_MARKUP_PCT: z.preprocess(
    emptyToUndefined,
    z.coerce
      .number()
      .min(0)
      .max(1000)
      .refine((value) => Number.isInteger(value * 100), "at most two decimals")
      .default(50),
  ),
  FREE_MONTHLY_QUOTA: intWithDefault(5_000),
  FREE_MONTHLY_ALLOWANCE_MICRO: intWithDefault(5_000_000),
  TOPUP_TARGET_USDC_MICRO: intWithDefault(10_000_000),
  // Daily caps (UTC day) on what leaves the treasury: USDC, and SOL with the rent and fees it pays.
  FUNDING_CAP_TREASURY_DAILY_USDC_MICRO: intWithDefault(10_000_000_000),
  FUNDING_CAP_TREASURY_DAILY_SOL_LAMPORTS: intWithDefault(20_000_000_000),
  FUNDING_CAP_FREE_KEY_DAILY_USDC_MICRO: intWithDefault(5_000_000),
  FUNDING_CAP_FREE_KEY_DAILY_SOL_LAMPORTS: intWithDefault(30_000_000),
  FUNDING_CAP_FREE_ACCOUNT_DAILY_USDC_MICRO: intWithDefault(5_000_000),
  FUNDING_CAP_FREE_ACCOUNT_DAILY_SOL_LAMPORTS: intWithDefault(50_000_000),
  FUNDING_CAP_PAID_KEY_DAILY_USDC_MICRO: intWithDefault(100_000_000),
  FUNDING_CAP_PAID_KEY_DAILY_SOL_LAMPORTS: intWithDefault(100_000_000),
  FUNDING_CAP_PAID_ACCOUNT_DAILY_USDC_MICRO: intWithDefault(250_000_000),
  FUNDING_CAP_PAID_ACCOUNT_DAILY_SOL_LAMPORTS: intWithDefault(500_000_000),
  FUNDING_CAP_PRO_KEY_DAILY_USDC_MICRO: intWithDefault(1_000_000_000),
  FUNDING_CAP_PRO_KEY_DAILY_SOL_LAMPORTS: intWithDefault(500_000_000),
  FUNDING_CAP_PRO_ACCOUNT_DAILY_USDC_MICRO: intWithDefault(2_500_000_000),
  FUNDING_CAP_PRO_ACCOUNT_DAILY_SOL_LAMPORTS: intWithDefault(2_000_000_000),
  AGENT_FAILED_DAILY_CAP_PAID_MICRO: intWithDefault(10_000_000),
  AGENT_FAILED_DAILY_CAP_PRO_MICRO: intWithDefault(100_000_000),
  AGENT_BREAKER_FAILURES: intWithDefault(5, 1),
  AGENT_BREAKER_WINDOW_SECONDS: intWithDefault(600, 1),
  AGENT_BREAKER_COOLDOWN_SECONDS: intWithDefault(600, 1),
  MAX_AGENT_PRICE_MICRO: intWithDefault(1_000_000),
  // The priority fee (compute-unit limit × price) a marketplace payment may make a wallet pay on top of the 5,000-lamport base fee.
  MAX_PRIORITY_FEE_LAMPORTS: intWithDefault(10_000),
  // The marketplace's agent calls per wallet per minute (Tetto documents 10); 0: no limit.
  MARKETPLACE_CALLS_PER_WALLET_PER_MINUTE: intWithDefault(10),
  // Waited for a paid call's answer beyond the agent type's timeout (20/120/180 s): the marketplace submits the payment first.
  MARKETPLACE_CALL_MARGIN_MS: intWithDefault(30_000),
  // How long a payment the marketplace reports as made may take to show on the chain before recovery takes over.
  PAYMENT_CONFIRM_WAIT_MS: intWithDefault(15_000),
  // A paid call still pending this long is settled from the chain (by its key's next call or the recover-calls cron).
  RECOVER_PENDING_AFTER_SECONDS: intWithDefault(120, 1),
  KEYS_CREATED_PER_ACCOUNT_DAILY: intWithDefault(10, 1),

  STRIPE_SECRET_KEY: optionalString,
  STRIPE_WEBHOOK_SECRET: optionalString,
  STRIPE_API_BASE: optionalUrl,
  STRIPE_METER_EVENT_NAME: z.preprocess(
    emptyToUndefined,
    z
      .string()
      .regex(/^[a-z0-9_]{1,100}$/)
      .default("tdk_usage_micro"),
  ),
  STRIPE_PRICE_PAID: optionalString,
  STRIPE_PRICE_PRO: optionalString,
  ALERT_WEBHOOK_URL: optionalUrl,
  /** Bearer token of GET /api/metrics (CRON_SECRET is accepted too). */
  METRICS_TOKEN: z.preprocess(emptyToUndefined, z.string().min(16, "METRICS_TOKEN must be at least 16 characters").optional()),
  /** The logger's level (lib/logger.ts reads it at start; checked here so a typo is refused at boot). */
  LOG_LEVEL: z.preprocess(emptyToUndefined, z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info")),
  /** Outgoing mail (password reset links): smtp://user:pass@host:port or smtps://…; unset: no mail. */
  SMTP_URL: z.preprocess(
    emptyToUndefined,
    z
      .string()
      .regex(/^smtps?:\/\/[^\s]+$/, "SMTP_URL must be smtp:// or smtps://")
      .optional(),
  ),
  MAIL_FROM: z.preprocess(emptyToUndefined, z.string().max(200).default("TDK gateway <no-reply@localhost>")),
  TOPUP_LOW_WATER_USDC_MICRO: intWithDefault(2_000_000),

  UPSTASH_REDIS_REST_URL: optionalUrl,
  UPSTASH_REDIS_REST_TOKEN: optionalString,

  // Proxies in front of the gateway that append to X-Forwarded-For; unset: Vercel's headers (it overwrites them).
  TRUSTED_PROXY_HOPS: z.preprocess(emptyToUndefined, z.coerce.number().int().min(0).max(10).optional()),
  TDK_ALLOW_MEMORY_LIMITER: z.preprocess(emptyToUndefined, z.enum(["0", "1"]).default("0")),

  CRON_SECRET: z.preprocess(emptyToUndefined, z.string().min(16, "must be at least 16 characters").optional()),
});

export type RawEnv = z.infer<typeof rawEnvSchema>;

export interface KeyVersion {
  version: number;
  key: Buffer;
}

export interface Env {
  nodeEnv: RawEnv["NODE_ENV"];
  dataDir: string;
  appUrl: string | null;
  database:
    | { kind: "pglite"; thread: "worker" | "main" }
    | { kind: "postgres"; url: string; poolMax: number; thread: "worker" | "main" }
    | { kind: "supabase"; url: string; serviceRoleKey: string };
  ledger: { kind: "local" } | { kind: "rpc"; rpcUrl: string; usdcMint: string };
  marketplace: { kind: "local" } | { kind: "remote"; apiUrl: string; protocolWallet: string };
  /** How the gateway paces and waits for paid agent calls (the marketplace's limits and timeouts). */
  agentCalls: { walletCallsPerMinute: number | null; callMarginMs: number; confirmWaitMs: number; recoverPendingAfterMs: number };
  /** Where the client's IP comes from: null = Vercel's headers; N = the N-th X-Forwarded-For entry from the right (0: no proxy, no header trusted). */
  trustedProxyHops: number | null;
  pricing: { markupBps: number; freeMonthlyQuota: number };
  topup: { lowWaterUsdcMicro: bigint; targetUsdcMicro: bigint };
  /** Everything that bounds what the gateway spends without billing it (DESIGN.md "Money safety"). */
  limits: MoneyLimits;
  /** Null in development without a key: the embedded key file in the data dir is used instead. */
  encryption: { current: KeyVersion; decryptOnly: KeyVersion[] } | null;
  funding: { initialUsdcMicro: bigint; initialSolLamports: bigint };
  treasuryFloat: { usdcMicro: bigint; solLamports: bigint };
  keys: { mode: "live" | "test"; maxPerAccount: number; createdPerDay: number };
  sessionTtlMs: number;
  stripe: {
    secretKey: string;
    webhookSecret: string;
    meterEventName: string;
    prices: { paid: string | null; pro: string | null };
    /** Another Stripe API endpoint (stripe-mock, a test stand-in); null for api.stripe.com. */
    apiBase: string | null;
  } | null;
  alertWebhookUrl: string | null;
  /** Outgoing mail; null: none (a reset link is then printed in the server log in development only). */
  mail: { smtpUrl: string; from: string } | null;
  upstash: { url: string; token: string } | null;
  cronSecret: string | null;
  /** Bearer token of the metrics endpoint (besides the cron secret); null: the cron secret only. */
  metricsToken: string | null;
}

export type Tier = "free" | "paid" | "pro";

/** USDC in micro-USD and SOL in lamports (what the treasury pays: transfers, rent, fees). */
export interface Amounts {
  usdcMicro: bigint;
  solLamports: bigint;
}

export interface MoneyLimits {
  /** Agent cost a free account may spend per calendar month (UTC), failed-after-payment calls included. */
  freeMonthlyAllowanceMicro: bigint;
  /** Agent cost of calls that fail after payment, per paid account per UTC day (calls in flight count). */
  agentFailedDailyCapMicro: { paid: bigint; pro: bigint };
  /** Failures after payment within the window that cut an agent off for everyone, and for how long. */
  breaker: { failures: number; windowSeconds: number; cooldownSeconds: number };
  /** Agents priced above this are never paid. */
  maxAgentPriceMicro: bigint;
  /** The most a marketplace payment's compute budget may add to the wallet's fee. */
  maxPriorityFeeLamports: bigint;
  /** What may leave the treasury per UTC day: everywhere, and per key and per account by tier. */
  funding: { treasuryDaily: Amounts; tiers: Record<Tier, { keyDaily: Amounts; accountDaily: Amounts }> };
}

/** Variables that were renamed: a deploy that still sets one is told, not silently uncapped. */
const RENAMED: Record<string, string> = {
  TOPUP_KEY_DAILY_CAP_MICRO: "FUNDING_CAP_<TIER>_KEY_DAILY_USDC_MICRO",
  TOPUP_TOTAL_DAILY_CAP_MICRO: "FUNDING_CAP_TREASURY_DAILY_USDC_MICRO",
};

export class EnvError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "EnvError";
  }
}

/** Both or neither: a half-configured group is refused with the names of what is missing. */
function group<K extends keyof RawEnv>(raw: RawEnv, names: K[], label: string): { [P in K]: NonNullable<RawEnv[P]> } | null {
  const present = names.filter((name) => raw[name] !== undefined);
  if (present.length === 0) return null;
  if (present.length < names.length) {
    const missing = names.filter((name) => raw[name] === undefined);
    throw new EnvError(`${label}: ${present.join(", ")} is set but ${missing.join(", ")} is not. Set all of them or none.`);
  }
  return Object.fromEntries(names.map((name) => [name, raw[name]])) as { [P in K]: NonNullable<RawEnv[P]> };
}

function parseOldKeys(value: string | undefined): KeyVersion[] {
  if (!value) return [];
  return value.split(",").map((entry) => {
    const match = /^\s*(\d+):([0-9a-fA-F]{64})\s*$/.exec(entry);
    if (!match) throw new EnvError("WALLET_ENCRYPTION_OLD_KEYS: expected a comma-separated list of version:64-hex-chars");
    return { version: Number(match[1]), key: Buffer.from(match[2]!, "hex") };
  });
}

export function parseEnv(source: Record<string, string | undefined>): Env {
  const renamed = Object.keys(RENAMED).filter((name) => emptyToUndefined(source[name]) !== undefined);
  if (renamed.length > 0) {
    throw new EnvError(`Invalid configuration: ${renamed.map((name) => `${name} was replaced by ${RENAMED[name]}`).join("; ")}.`);
  }
  const parsed = rawEnvSchema.safeParse(source);
  if (!parsed.success) {
    // Name the variable and the rule, never echo the value (it may be a secret).
    const problems = parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`);
    throw new EnvError(`Invalid configuration:\n  ${problems.join("\n  ")}`);
  }
  const raw = parsed.data;

  const supabase = group(raw, ["SUPABASE_URL", "SUPABASE_SERVICE_ROLE_KEY"], "Supabase");
  const rpc = group(raw, ["SOLANA_RPC_URL", "USDC_MINT"], "Solana RPC");
  const stripe = group(raw, ["STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET"], "Stripe");
  const upstash = group(raw, ["UPSTASH_REDIS_REST_URL", "UPSTASH_REDIS_REST_TOKEN"], "Upstash");
  const tetto = group(raw, ["TETTO_API_URL", "TETTO_PROTOCOL_WALLET"], "Marketplace");
  if (supabase && raw.DATABASE_URL) {
    throw new EnvError("Database: set SUPABASE_URL + SUPABASE_SERVICE_ROLE_KEY or DATABASE_URL, not both.");
  }

  const database: Env["database"] = supabase
    ? { kind: "supabase", url: supabase.SUPABASE_URL, serviceRoleKey: supabase.SUPABASE_SERVICE_ROLE_KEY }
    : raw.DATABASE_URL
      ? { kind: "postgres", url: raw.DATABASE_URL, poolMax: raw.DATABASE_POOL_MAX, thread: raw.POSTGRES_THREAD }
      : { kind: "pglite", thread: raw.PGLITE_THREAD };
  const ledger: Env["ledger"] = rpc ? { kind: "rpc", rpcUrl: rpc.SOLANA_RPC_URL, usdcMint: rpc.USDC_MINT } : { kind: "local" };
  const marketplace: Env["marketplace"] = tetto
    ? { kind: "remote", apiUrl: tetto.TETTO_API_URL, protocolWallet: tetto.TETTO_PROTOCOL_WALLET }
    : { kind: "local" };
  if (marketplace.kind === "local" && ledger.kind === "rpc") {
    throw new EnvError(
      "Marketplace: the local marketplace runs on the local ledger only. Set TETTO_API_URL + TETTO_PROTOCOL_WALLET with SOLANA_RPC_URL.",
    );
  }
  if (marketplace.kind === "remote" && ledger.kind === "local") {
    throw new EnvError("Marketplace: a real marketplace pays on a real chain. Set SOLANA_RPC_URL + USDC_MINT with TETTO_API_URL.");
  }

  const production = raw.NODE_ENV === "production";
  const allowEmbedded = raw.TDK_ALLOW_EMBEDDED === "1";
  const embeddedParts = [
    database.kind === "pglite" ? "database (PGlite; set SUPABASE_URL + SUPABASE_SERVICE_ROLE_KEY or DATABASE_URL)" : null,
    ledger.kind === "local" ? "Solana ledger (in-process; set SOLANA_RPC_URL + USDC_MINT)" : null,
    marketplace.kind === "local" ? "agent marketplace (demo agents; set TETTO_API_URL + TETTO_PROTOCOL_WALLET)" : null,
  ].filter((part): part is string => part !== null);
  if (production && !allowEmbedded && embeddedParts.length > 0) {
    throw new EnvError(
      `Refusing to start in production on embedded parts: ${embeddedParts.join("; ")}. ` +
        "Configure them, or set TDK_ALLOW_EMBEDDED=1 to run a production build on embedded defaults on purpose.",
    );
  }

  const decryptOnly = parseOldKeys(raw.WALLET_ENCRYPTION_OLD_KEYS);
  if (decryptOnly.some((old) => old.version === raw.WALLET_ENCRYPTION_KEY_VERSION)) {
    throw new EnvError("WALLET_ENCRYPTION_OLD_KEYS must not contain the current WALLET_ENCRYPTION_KEY_VERSION.");
  }
  if (!raw.WALLET_ENCRYPTION_KEY && production && !allowEmbedded) {
    throw new EnvError("WALLET_ENCRYPTION_KEY is required in production (64 hex chars; `npm run generate-encryption-key`).");
  }
  // Each instance counting on its own would multiply every rate limit by the number of instances.
  if (production && !upstash && raw.TDK_ALLOW_MEMORY_LIMITER !== "1") {
    throw new EnvError(
      "Refusing to start in production without a shared rate limiter: set UPSTASH_REDIS_REST_URL + UPSTASH_REDIS_REST_TOKEN " +
        "(each instance would otherwise count on its own), or TDK_ALLOW_MEMORY_LIMITER=1 for a single instance on purpose.",
    );
  }

  const encryption = raw.WALLET_ENCRYPTION_KEY
    ? { current: { version: raw.WALLET_ENCRYPTION_KEY_VERSION, key: Buffer.from(raw.WALLET_ENCRYPTION_KEY, "hex") }, decryptOnly }
    : null;

  return {
    nodeEnv: raw.NODE_ENV,
    dataDir: path.resolve(raw.TDK_DATA_DIR ?? ".data"),
    appUrl: raw.APP_URL ?? null,
    database,
    ledger,
    marketplace,
    agentCalls: {
      walletCallsPerMinute: raw.MARKETPLACE_CALLS_PER_WALLET_PER_MINUTE === 0 ? null : raw.MARKETPLACE_CALLS_PER_WALLET_PER_MINUTE,
      callMarginMs: raw.MARKETPLACE_CALL_MARGIN_MS,
      confirmWaitMs: raw.PAYMENT_CONFIRM_WAIT_MS,
      recoverPendingAfterMs: raw.RECOVER_PENDING_AFTER_SECONDS * 1_000,
    },
    trustedProxyHops: raw.TRUSTED_PROXY_HOPS ?? null,
    pricing: { markupBps: Math.round(raw.TDK_MARKUP_PCT * 100), freeMonthlyQuota: raw.FREE_MONTHLY_QUOTA },
    topup: { lowWaterUsdcMicro: BigInt(raw.TOPUP_LOW_WATER_USDC_MICRO), targetUsdcMicro: BigInt(raw.TOPUP_TARGET_USDC_MICRO) },
    limits: moneyLimits(raw),
    encryption,
    funding: { initialUsdcMicro: BigInt(raw.WALLET_INITIAL_USDC_MICRO), initialSolLamports: BigInt(raw.WALLET_INITIAL_SOL_LAMPORTS) },
    treasuryFloat: { usdcMicro: BigInt(raw.TREASURY_FLOAT_USDC_MICRO), solLamports: BigInt(raw.TREASURY_FLOAT_SOL_LAMPORTS) },
    keys: {
      mode: raw.TDK_KEY_MODE ?? (ledger.kind === "local" ? "test" : "live"),
      maxPerAccount: raw.MAX_KEYS_PER_ACCOUNT,
      createdPerDay: raw.KEYS_CREATED_PER_ACCOUNT_DAILY,
    },
    sessionTtlMs: raw.SESSION_TTL_HOURS * 3_600_000,
    stripe: stripe
      ? {
          secretKey: stripe.STRIPE_SECRET_KEY,
          webhookSecret: stripe.STRIPE_WEBHOOK_SECRET,
          meterEventName: raw.STRIPE_METER_EVENT_NAME,
          prices: { paid: raw.STRIPE_PRICE_PAID ?? null, pro: raw.STRIPE_PRICE_PRO ?? null },
          apiBase: raw.STRIPE_API_BASE ?? null,
        }
      : null,
    alertWebhookUrl: raw.ALERT_WEBHOOK_URL ?? null,
    mail: raw.SMTP_URL ? { smtpUrl: raw.SMTP_URL, from: raw.MAIL_FROM } : null,
    upstash: upstash ? { url: upstash.UPSTASH_REDIS_REST_URL, token: upstash.UPSTASH_REDIS_REST_TOKEN } : null,
    cronSecret: raw.CRON_SECRET ?? null,
    metricsToken: raw.METRICS_TOKEN ?? null,
  };
}

function moneyLimits(raw: RawEnv): MoneyLimits {
  const amounts = (usdc: number, sol: number): Amounts => ({ usdcMicro: BigInt(usdc), solLamports: BigInt(sol) });
  return {
    freeMonthlyAllowanceMicro: BigInt(raw.FREE_MONTHLY_ALLOWANCE_MICRO),
    agentFailedDailyCapMicro: { paid: BigInt(raw.AGENT_FAILED_DAILY_CAP_PAID_MICRO), pro: BigInt(raw.AGENT_FAILED_DAILY_CAP_PRO_MICRO) },
    breaker: {
      failures: raw.AGENT_BREAKER_FAILURES,
      windowSeconds: raw.AGENT_BREAKER_WINDOW_SECONDS,
      cooldownSeconds: raw.AGENT_BREAKER_COOLDOWN_SECONDS,
    },
    maxAgentPriceMicro: BigInt(raw.MAX_AGENT_PRICE_MICRO),
    maxPriorityFeeLamports: BigInt(raw.MAX_PRIORITY_FEE_LAMPORTS),
    funding: {
      treasuryDaily: amounts(raw.FUNDING_CAP_TREASURY_DAILY_USDC_MICRO, raw.FUNDING_CAP_TREASURY_DAILY_SOL_LAMPORTS),
      tiers: {
        free: {
          keyDaily: amounts(raw.FUNDING_CAP_FREE_KEY_DAILY_USDC_MICRO, raw.FUNDING_CAP_FREE_KEY_DAILY_SOL_LAMPORTS),
          accountDaily: amounts(raw.FUNDING_CAP_FREE_ACCOUNT_DAILY_USDC_MICRO, raw.FUNDING_CAP_FREE_ACCOUNT_DAILY_SOL_LAMPORTS),
        },
        paid: {
          keyDaily: amounts(raw.FUNDING_CAP_PAID_KEY_DAILY_USDC_MICRO, raw.FUNDING_CAP_PAID_KEY_DAILY_SOL_LAMPORTS),
          accountDaily: amounts(raw.FUNDING_CAP_PAID_ACCOUNT_DAILY_USDC_MICRO, raw.FUNDING_CAP_PAID_ACCOUNT_DAILY_SOL_LAMPORTS),
        },
        pro: {
          keyDaily: amounts(raw.FUNDING_CAP_PRO_KEY_DAILY_USDC_MICRO, raw.FUNDING_CAP_PRO_KEY_DAILY_SOL_LAMPORTS),
          accountDaily: amounts(raw.FUNDING_CAP_PRO_ACCOUNT_DAILY_USDC_MICRO, raw.FUNDING_CAP_PRO_ACCOUNT_DAILY_SOL_LAMPORTS),
        },
      },
    },
  };
}
