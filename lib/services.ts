import { agentCatalogSchema, catalogEntries, openAgentBreakers, type AgentCatalog } from "@/lib/agents/catalog";
import { agentTimeoutMs } from "@/lib/agents/protocol";
import { logIn, registerAccount, resetMonthlyCounters } from "@/lib/auth/accounts";
import {
  changePasswordHash,
  createPasswordReset,
  deleteAccountRow,
  getAccount,
  getPasswordHash,
  redeemPasswordReset,
} from "@/lib/auth/account-store";
import { hashPassword, verifyPassword } from "@/lib/auth/passwords";
import { createSession, hashSessionToken } from "@/lib/auth/sessions";
import { type BillingPeriod, billableUsage, getBillingAccount, listBillingPeriods } from "@/lib/billing/billing-store";
import { generateApiKey } from "@/lib/keys/api-key";
import { listKeyRows, rotateKeyRow } from "@/lib/keys/key-store";
import type { meResponseSchema } from "@/lib/keys/schemas";
import { smtpMailer } from "@/lib/mail/mailer";
import {
  type AccountMatch,
  type AdminAccount,
  adminAccount,
  openBreakers,
  resetBreaker,
  resolveFlagged,
  searchAccounts,
  setOverrides,
  setSuspension,
  setTier,
} from "@/lib/ops/admin-store";
import { metricsText } from "@/lib/ops/metrics";
import { reconcile, reconcileStripe, reconcileTreasury, type ReconciliationReport } from "@/lib/ops/reconcile";
import {
  type AuditEntry,
  auditEntries,
  claimAlert,
  metricsData,
  openReconciliationDifferences,
  recordReconciliation,
  unreportedUsageAge,
} from "@/lib/ops/ops-store";
import { sweepAccountWallets } from "@/lib/ops/sweep-wallets";
import { tierRateLimits } from "@/lib/ratelimit/policies";
import type { Account } from "@/lib/auth/schemas";
import { getSession, revokeSession, type Session } from "@/lib/auth/sessions";
import { createCardSetupSession } from "@/lib/billing/card";
import { changePlan } from "@/lib/billing/checkout";
import { createPortalSession } from "@/lib/billing/portal";
import { reportUsage, type ReportSummary } from "@/lib/billing/report-usage";
import type { PaidTier } from "@/lib/billing/subscriptions";
import { handleStripeWebhook } from "@/lib/billing/webhooks";
import type { CallDeps, CallRequest } from "@/lib/calls/paid-call";
import { paidCall } from "@/lib/calls/paid-call";
import { recoverPendingCalls } from "@/lib/calls/recovery";
import type { CallOutcome } from "@/lib/calls/outcome";
import { getCall } from "@/lib/calls/usage-store";
import { getAppContext, type AppContext } from "@/lib/context";
import { ApiError, conform } from "@/lib/errors";
import {
  createApiKey,
  getApiKey,
  listApiKeys,
  listApiKeysWithBalances,
  refreshWalletBalances,
  revokeApiKey,
  setKeySpendLimit,
  toKeyView,
  verifyApiKey,
  type KeyDeps,
  type VerifyKeyResult,
} from "@/lib/keys/keys";
import { RecentVerifications } from "@/lib/keys/recent-verifications";
import type { KeyView, UpdateKey, VerifiedKey } from "@/lib/keys/schemas";
import { logger as processLogger, logLine, type Logger } from "@/lib/logger";
import { microToUsd } from "@/lib/money/units";
import { z } from "zod";
import { PublicKey } from "@solana/web3.js";
import { randomBytes } from "node:crypto";
import { moneyPolicy } from "@/lib/money/policy";
import { ALERT_REPEAT_SECONDS, raiseAlert, type Alert } from "@/lib/ops/alerts";
import { healthReport, type HealthReport } from "@/lib/ops/health";
import { alertStalePending } from "@/lib/ops/stale-pending";
import { runWalletSweep, type WalletSweepSummary } from "@/lib/ops/sweep-wallets";
import { treasuryHealth, type TreasuryHealth } from "@/lib/ops/treasury-health";
import { runTreasuryTopUp, type TreasuryTopUpSummary } from "@/lib/ops/treasury-topup";
import { marketplaceWalletLimit } from "@/lib/ratelimit/policies";
import { rateLimitHeaders, retryAfterSeconds, type RateLimitPolicy, type RateLimitResult } from "@/lib/ratelimit/types";
import type { FundingDeps } from "@/lib/solana/funding";
import { loadTreasury, treasuryPublicKey } from "@/lib/solana/treasury";
import { readUsage, toCallView, usagePage, usageSummary, type UsageAnswer, type UsageScope } from "@/lib/usage/usage";
import type { CallView } from "@/lib/usage/schemas";

/**
 * The one place the app context becomes services (as Unkey's `init()` builds its ServiceContext):
 * routes, server actions, pages, crons and scripts all call these, so the same request gets the
 * same answer whichever door it came in by. Each service is built once per app context.
 *
 * A service refuses with `ApiError` (a code from the error catalog and a message for people): the
 * HTTP wrappers answer it in the common error shape, the server actions show its message.
 */
export interface Services {
  /** The parts the services are built from, for what no service covers (tests, health). */
  app: AppContext;
  logger: Logger;
  limits: LimitService;
  accounts: AccountService;
  keys: KeyService;
  calls: CallService;
  usage: UsageService;
  catalog: CatalogService;
  funding: FundingService;
  billing: BillingService;
  alerts: AlertService;
  ops: OpsService;
  admin: AdminService;
}

/**
 * The operator console. Every action needs an admin whose session began less than
 * OPERATOR_SESSION_MAX_AGE_MS ago, and is recorded in the audit log as `operator:<account id>`.
 */
export interface AdminService {
  /** The operator, or a refusal: not_found for anyone who is not an admin (the console does not say it exists). */
  operator(session: Session | null, options?: { action?: boolean }): Operator;
  search(query: string): Promise<AccountMatch[]>;
  account(accountId: string): Promise<AdminAccount | null>;
  breakers(): ReturnType<typeof openBreakers>;
  suspend(operator: Operator, accountId: string, reason: string): Promise<void>;
  lift(operator: Operator, accountId: string): Promise<void>;
  setTier(operator: Operator, accountId: string, tier: "free" | "paid" | "pro"): Promise<void>;
  resolveFlagged(operator: Operator, accountId: string, retry: boolean): Promise<{ calls: number; micro: number }>;
  resetBreaker(operator: Operator, agentId: string): Promise<void>;
  /** The account's quota, free allowance and failure cap, instead of the configured ones (null: the default). */
  setOverrides(
    operator: Operator,
    accountId: string,
    overrides: { quota: number | null; freeAllowanceMicro: bigint | null; agentFailedCapMicro: bigint | null },
  ): Promise<void>;
  auditLog(accountId: string | null, limit?: number): Promise<AuditEntry[]>;
  /** The reconcile cron's differences no later run resolved, most recent first. */
  differences(): ReturnType<typeof openReconciliationDifferences>;
}

export interface Operator {
  accountId: string;
  actor: string;
}

export interface LimitService {
  /** Counts one request; throws `rate_limited` (429 with Retry-After) past the limit. The result carries the X-RateLimit-* headers. */
  enforce(policy: RateLimitPolicy, identifier: string): Promise<RateLimitResult>;
}

export interface AccountService {
  get(accountId: string): Promise<Account | null>;
  /** Creates the account and logs it in (its first session). */
  register(email: string, password: string): Promise<{ account: Account; token: string; expiresAt: Date }>;
  logIn(email: string, password: string): Promise<{ token: string; expiresAt: Date }>;
  logOut(sessionToken: string): Promise<boolean>;
  session(sessionToken: string): Promise<Session | null>;
  /** Checks the current password, sets the new one, and revokes every other session. */
  changePassword(session: Session, currentPassword: string, newPassword: string): Promise<{ sessions_revoked: number }>;
  /**
   * Mails a single-use reset link valid for an hour to the account with this email, if there is
   * one: the caller answers the same either way. Without SMTP the link goes to the server log, in
   * development only.
   */
  requestPasswordReset(email: string, origin: string): Promise<void>;
  /** Uses a reset link's token once: the new password is set and every session revoked. */
  resetPassword(token: string, newPassword: string): Promise<void>;
  /**
   * Deletes the account (its password proves the owner): a paid plan stops at the end of its period,
   * every key is revoked and its wallet swept back to the treasury, personal data is erased, and the
   * usage stays for the books under the account's id, which no longer leads to anyone.
   */
  delete(
    accountId: string,
    password: string,
  ): Promise<{ keys_revoked: number; wallets_swept: number; subscription: "none" | "cancels_at_period_end" }>;
  /** The account's audit log, newest first: what changed on its keys and account, by whom. */
  auditLog(
    accountId: string,
    page?: { beforeId?: number | null; limit?: number },
  ): Promise<{ entries: AuditEntry[]; nextBeforeId: number | null }>;
}

export interface KeyService {
  /** What key creation needs; the treasury is decrypted only now. */
  deps(): Promise<KeyDeps>;
  create(accountId: string, name: string | undefined): Promise<Extract<Awaited<ReturnType<typeof createApiKey>>, { ok: true }>>;
  /** The account's keys with their wallets' balances read from the chain (`fromChain: false`: as last recorded). */
  list(accountId: string, options?: { fromChain?: boolean }): Promise<KeyView[]>;
  get(accountId: string, keyId: string): Promise<KeyView>;
  revoke(accountId: string, keyId: string): Promise<KeyView>;
  setSpendLimit(accountId: string, keyId: string, update: UpdateKey): Promise<KeyView>;
  /** A new secret for the same key and wallet; the old one keeps working `graceHours` (0: not at all). */
  rotate(accountId: string, keyId: string, graceHours: number): Promise<{ apiKey: string; key: KeyView; previousExpiresAt: string }>;
  /** What a program holding the key can know of it: the key, its wallet's balances from the chain, its quota and limits. */
  me(key: VerifiedKey): Promise<z.infer<typeof meResponseSchema>>;
  /**
   * A Bearer key verified. `reuseRecent`: a verification that held in the last few seconds is
   * reused, for the paid call only, whose reservation checks the key again (RecentVerifications).
   */
  verify(apiKey: string, options?: { reuseRecent?: boolean }): Promise<VerifyKeyResult>;
}

export interface CallService {
  /** The paid call's dependencies (tests add their crash-injection seam to a copy). */
  deps: CallDeps;
  /** One paid call of this key: its calls a crash or a lost answer left pending are settled from the chain first. */
  call(key: VerifiedKey, request: CallRequest): Promise<CallOutcome>;
  /** One call of this key by request id; another key's call is not found either. */
  get(keyId: string, requestId: string): Promise<CallView>;
  /** The cron's pass: pending calls older than the recovery delay settled from the chain; stale ones alerted. */
  recoverPending(): Promise<Record<string, unknown>>;
}

export interface UsageService {
  /** A page of history and the range's summary, or the range as CSV, from the endpoint's query string. */
  read(searchParams: URLSearchParams, scopeFor: (keyId: string | undefined) => Promise<UsageScope>): Promise<UsageAnswer>;
  summary(scope: UsageScope, range: { from: Date; to: Date }): ReturnType<typeof usageSummary>;
  page(scope: UsageScope, options: Parameters<typeof usagePage>[2]): ReturnType<typeof usagePage>;
  /** The key-id filter of a session caller: one of its own keys, or not found. */
  scopeForAccount(accountId: string, keyId: string | undefined): Promise<UsageScope>;
}

export interface CatalogService {
  list(): Promise<AgentCatalog>;
}

export interface FundingService {
  /** The funding path's dependencies; null while no treasury is set up. The treasury is decrypted only now. */
  deps(): Promise<FundingDeps | null>;
  /** What a wallet is topped up to: the top-up cron's and the call path's target. */
  targets: { usdcMicro: bigint; solLamports: bigint };
  topUpWallets(): Promise<{ summary: TreasuryTopUpSummary | null; treasury: TreasuryHealth }>;
  sweepWallets(): Promise<WalletSweepSummary | null>;
}

export interface BillingService {
  enabled: boolean;
  changePlan(
    accountId: string,
    tier: PaidTier,
    origin: string,
  ): Promise<{ action: "checkout"; url: string } | { action: "updated"; tier: PaidTier }>;
  cardSetup(accountId: string, origin: string): Promise<string>;
  portal(accountId: string, origin: string): Promise<string>;
  webhook(rawBody: string, signature: string | null): Promise<{ id: string; outcome: string }>;
  /** Null when Stripe is not configured. */
  reportUsage(): Promise<ReportSummary | null>;
  /** The billing page: plan, subscription, the current period's billable usage, the invoices. */
  overview(account: Account): Promise<BillingOverview>;
}

export interface BillingOverview {
  tier: Account["tier"];
  subscriptionStatus: string | null;
  /** Since the end of the last invoiced period (or the start of the month): what the next invoice bills so far. */
  currentPeriod: { from: string; calls: number; billableMicro: number; reportedMicro: number };
  invoices: BillingPeriod[];
}

export interface AlertService {
  raise(alert: Alert): Promise<void>;
  /** The treasury against its float; raises `treasury_low` when it runs under 20%. */
  checkTreasury(): Promise<TreasuryHealth>;
}

export interface ReconcileRun {
  report: ReconciliationReport;
  /** Checked here beyond the usage: the treasury's movements, and Stripe (null when billing is off). */
  treasury_checked: boolean;
  stripe_checked: boolean;
  new_differences: number;
  open_differences: number;
}

export interface OpsService {
  health(): Promise<HealthReport>;
  /** The Prometheus text of a scrape: this instance's measurements and the database's and chain's state. */
  metrics(): Promise<string>;
  /**
   * The reconcile cron: the period's on-chain payments against the settled usage, the treasury's
   * movements against the fundings and sweeps, and what was reported to Stripe against its meter's
   * event summaries per customer. Differences are stored (resolved when a later run no longer finds
   * them) and the new ones alerted.
   */
  reconcile(range: { from: Date; to: Date }): Promise<ReconcileRun>;
  resetMonthlyCounters(): Promise<{ month: string; accounts_reset: number }>;
}

/** A password reset link works once, for this long. */
export const PASSWORD_RESET_TTL_MS = 60 * 60_000;

/** How long the paid call route reuses a key's verification (lib/keys/recent-verifications.ts). */
export const RECENT_VERIFICATION_TTL_MS = 5_000;

/** Billable usage older than this and still not reported to Stripe is alerted on (the cron runs hourly). */
export const USAGE_REPORT_LAG_ALERT_SECONDS = 6 * 3_600;

/** The kinds the usage and wallet reconciliation reports (lib/ops/reconcile.ts), and the treasury's. */
const RECONCILED_KINDS = [
  "paid_in_usage_not_on_chain",
  "paid_on_chain_not_in_usage",
  "batch_total_mismatch",
  "reported_not_in_batch",
  "billable_not_reported",
  "flagged_for_operator",
  "pending",
  "funding_not_on_chain",
  "funding_on_chain_recorded_failed",
  "funding_pending",
  "swept_wallet_not_empty",
  "unrecorded_inflow",
  "wallet_balance_mismatch",
];
const TREASURY_KINDS = ["treasury_outflow_not_recorded", "treasury_amount_mismatch"];

/** Console actions need a session that began this recently: a stolen old cookie cannot act. */
export const OPERATOR_SESSION_MAX_AGE_MS = 15 * 60_000;

const built = new WeakMap<AppContext, Services>();

/**
 * The app's recently verified keys, one set per process: Next.js may load this module once per
 * route bundle, and a key revoked through the keys route must be forgotten by the call route's.
 */
function recentVerificationsOf(app: AppContext): RecentVerifications {
  const holder = globalThis as { __tdkRecentVerifications?: WeakMap<AppContext, RecentVerifications> };
  holder.__tdkRecentVerifications ??= new WeakMap();
  let recent = holder.__tdkRecentVerifications.get(app);
  if (!recent) {
    // A key called a few times a second is verified once in five seconds, not every call.
    recent = new RecentVerifications({ ttlMs: RECENT_VERIFICATION_TTL_MS, maxEntries: 10_000 });
    holder.__tdkRecentVerifications.set(app, recent);
  }
  return recent;
}

/** The services of the process's app context (built on first use). */
export async function getServices(): Promise<Services> {
  return servicesFor(await getAppContext());
}

/** The services of one app context, built once: tests and scripts hand in their own context. */
export function servicesFor(app: AppContext): Services {
  let services = built.get(app);
  if (!services) {
    services = buildServices(app);
    built.set(app, services);
  }
  return services;
}

function buildServices(app: AppContext, logger: Logger = processLogger): Services {
  const { env, db, ledger } = app;
  const policy = moneyPolicy(env);
  const alertOptions = { webhookUrl: env.alertWebhookUrl, log: logLine("warn") };

  const limits: LimitService = {
    async enforce(policy, identifier) {
      const result = await app.limiter.limit(policy, identifier);
      if (!result.success) {
        throw new ApiError("rate_limited", "Too many requests. Wait before trying again.", {
          headers: { ...rateLimitHeaders(result), "Retry-After": String(retryAfterSeconds(result)) },
        });
      }
      return result;
    },
  };

  const mailer = env.mail ? smtpMailer(env.mail) : null;
  const accounts: AccountService = {
    get: (accountId) => getAccount(db, accountId),
    async register(email, password) {
      const result = await registerAccount(db, email, password);
      if (!result.ok) throw new ApiError("email_taken", "An account with this email already exists. Log in instead.");
      const session = await createSession(db, result.account.id, env.sessionTtlMs);
      return { account: result.account, ...session };
    },
    async logIn(email, password) {
      const result = await logIn(db, email, password, env.sessionTtlMs);
      if (!result.ok) throw new ApiError("invalid_credentials", "Email or password is incorrect.");
      return { token: result.token, expiresAt: result.expiresAt };
    },
    logOut: (token) => revokeSession(db, token),
    session: (token) => getSession(db, token),
    async changePassword(session, currentPassword, newPassword) {
      if (!(await verifyPassword(currentPassword, await getPasswordHash(db, session.account.id)))) {
        throw new ApiError("validation_failed", "The current password is incorrect.", { fields: { current_password: ["is incorrect"] } });
      }
      const result = await changePasswordHash(db, session.account.id, await hashPassword(newPassword), session.id);
      if (!result.ok) throw new ApiError("unauthorized", "The account of this session no longer exists.");
      return { sessions_revoked: result.sessions_revoked };
    },
    async requestPasswordReset(email, origin) {
      const token = `tdr_${randomBytes(32).toString("base64url")}`;
      const created = await createPasswordReset(db, email, hashSessionToken(token), new Date(Date.now() + PASSWORD_RESET_TTL_MS));
      if (!created) return;
      const link = `${origin}/reset-password?token=${token}`;
      if (mailer) {
        await mailer.send({
          to: email,
          subject: "Reset your TDK gateway password",
          text: `Someone (hopefully you) asked to reset the password of your TDK gateway account.\n\nSet a new password here (the link works once, for one hour):\n${link}\n\nIf it was not you, ignore this mail: your password stays as it is.\n`,
        });
      } else if (env.nodeEnv === "development") {
        // No SMTP on the embedded default: the developer running it reads the link here, on the
        // console and not through the logger (which scrubs tokens). Never outside development.
        console.log(`[tdk] password reset link (development, no SMTP_URL): ${link}`);
      } else {
        logger.warn("a password reset was asked for, but no SMTP_URL is configured: no mail was sent");
      }
    },
    async resetPassword(token, newPassword) {
      const result = await redeemPasswordReset(db, hashSessionToken(token), await hashPassword(newPassword));
      if (!result.ok) throw new ApiError("invalid_token", "This reset link is invalid, used or expired. Ask for a new one.");
    },
    async auditLog(accountId, page = {}) {
      const limit = page.limit ?? 50;
      const entries = await auditEntries(db, accountId, page.beforeId ?? null, limit + 1);
      return { entries: entries.slice(0, limit), nextBeforeId: entries.length > limit ? entries[limit - 1]!.id : null };
    },
    async delete(accountId, password) {
      if (!(await verifyPassword(password, await getPasswordHash(db, accountId)))) {
        throw new ApiError("validation_failed", "The password is incorrect.", { fields: { password: ["is incorrect"] } });
      }
      // The plan stops first: if Stripe cannot be told, nothing is erased and the user can try again.
      const billingAccount = await getBillingAccount(db, accountId);
      let subscription: "none" | "cancels_at_period_end" = "none";
      if (billingAccount?.stripe_subscription_id && app.stripe) {
        try {
          await app.stripe.subscriptions.update(billingAccount.stripe_subscription_id, { cancel_at_period_end: true });
        } catch (error) {
          logger.warn("account deletion: Stripe refused to stop the plan; nothing was deleted", {
            account_id: accountId,
            error: (error as Error).message,
          });
          throw new ApiError(
            "service_unavailable",
            "Billing could not stop your plan just now, so nothing was deleted. Try again in a minute.",
          );
        }
        subscription = "cancels_at_period_end";
      }
      const deleted = await deleteAccountRow(db, accountId);
      if (!deleted.ok) throw new ApiError("unauthorized", "The account of this session no longer exists.");
      // Its wallets back to the treasury now; one refused for now (a call in flight) is the sweep cron's.
      const wallets = (await listKeyRows(db, accountId))
        .filter((key) => key.swept_at === null)
        .map((key) => ({ key_id: key.id, wallet_public_key: key.wallet_public_key }));
      const fundingDeps = await funding.deps();
      const swept = fundingDeps && wallets.length > 0 ? await sweepAccountWallets({ ...fundingDeps, ring: app.ring }, wallets) : null;
      return { keys_revoked: deleted.keys_revoked, wallets_swept: (swept?.swept ?? 0) + (swept?.empty ?? 0), subscription };
    },
  };

  const funding: FundingService = {
    async deps() {
      const treasury = await loadTreasury(db, app.ring);
      return treasury ? { db, ledger, treasury, policy } : null;
    },
    targets: { usdcMicro: env.topup.targetUsdcMicro, solLamports: env.funding.initialSolLamports },
    async topUpWallets() {
      const deps = await funding.deps();
      const summary = deps
        ? await runTreasuryTopUp({ ...deps, lowWaterUsdcMicro: env.topup.lowWaterUsdcMicro, targets: funding.targets })
        : null;
      for (const code of new Set((summary?.skipped ?? []).map((skip) => skip.code).filter((code) => /_cap_reached$/.test(code)))) {
        const count = summary!.skipped.filter((skip) => skip.code === code).length;
        await alerts.raise({
          kind: "funding_cap_hit",
          key: code,
          message: `The top-up cron left ${count} wallets under their low-water mark: ${code.replaceAll("_", " ")}.`,
          details: { code, wallets: count },
        });
      }
      return { summary, treasury: await alerts.checkTreasury() };
    },
    async sweepWallets() {
      const deps = await funding.deps();
      return deps ? runWalletSweep({ ...deps, ring: app.ring }) : null;
    },
  };

  const keyNotFound = () => new ApiError("not_found", "No such key.");
  const recentVerifications = recentVerificationsOf(app);
  const keys: KeyService = {
    async deps() {
      return {
        db,
        ledger,
        ring: app.ring,
        funding: await funding.deps(),
        config: {
          mode: env.keys.mode,
          maxPerAccount: env.keys.maxPerAccount,
          createdPerDay: env.keys.createdPerDay,
          initialUsdcMicro: env.funding.initialUsdcMicro,
          initialSolLamports: env.funding.initialSolLamports,
        },
      };
    },
    async create(accountId, name) {
      const result = await createApiKey(await keys.deps(), accountId, name);
      if (result.ok) return result;
      switch (result.code) {
        case "key_limit_reached":
          throw new ApiError("key_limit_reached", `An account can hold at most ${result.limit} active keys. Revoke one first.`, {
            limit: result.limit,
          });
        case "key_daily_limit_reached": {
          const seconds = Math.max(1, Math.ceil((Date.parse(result.retry_at!) - Date.now()) / 1000));
          throw new ApiError(
            "key_daily_limit_reached",
            `An account can create at most ${result.limit} keys a day (UTC). Try again after ${result.retry_at}.`,
            { limit: result.limit, retry_at: result.retry_at, headers: { "Retry-After": String(seconds) } },
          );
        }
        case "account_suspended":
          throw new ApiError(
            "account_suspended",
            `This account is suspended (${result.reason}): no key can be created until it is lifted.`,
            {
              reason: result.reason,
            },
          );
        case "account_not_found":
          throw new ApiError("unauthorized", "The account of this session no longer exists.");
      }
    },
    list: (accountId, options = {}) =>
      options.fromChain === false ? listApiKeys(db, accountId) : listApiKeysWithBalances(db, ledger, accountId),
    async get(accountId, keyId) {
      return (await getApiKey(db, accountId, keyId)) ?? Promise.reject(keyNotFound());
    },
    async revoke(accountId, keyId) {
      const revoked = await revokeApiKey(db, accountId, keyId);
      recentVerifications.forgetKey(keyId);
      return revoked ?? Promise.reject(keyNotFound());
    },
    async rotate(accountId, keyId, graceHours) {
      const generated = generateApiKey(env.keys.mode);
      const result = await rotateKeyRow(db, accountId, keyId, generated.hash, generated.prefix, graceHours * 3600);
      recentVerifications.forgetKey(keyId);
      if (result.ok) return { apiKey: generated.apiKey, key: toKeyView(result.key), previousExpiresAt: result.previous_expires_at };
      if (result.code === "key_revoked") throw new ApiError("conflict", "This key is revoked: it cannot be rotated. Create a new key.");
      if (result.code === "invalid_grace_period") throw new ApiError("validation_failed", "grace_period_hours must be 0 to 168.");
      throw keyNotFound();
    },
    async me(key) {
      const [row, account] = await Promise.all([
        refreshWalletBalances(db, ledger, key.account_id, key.key_id, new PublicKey(key.wallet_public_key)),
        getAccount(db, key.account_id),
      ]);
      if (!row || !account) throw new ApiError("key_revoked", "This API key has been revoked.");
      const free = account.tier === "free";
      return {
        key: toKeyView(row),
        quota: {
          calls_this_month: account.ops_this_month,
          monthly_calls_limit: free ? env.pricing.freeMonthlyQuota : null,
          free_allowance_usd: free ? microToUsd(account.free_allowance ? env.limits.freeMonthlyAllowanceMicro : 0n) : null,
          free_spent_usd: free ? microToUsd(account.free_spent_micro) : null,
        },
        rate_limits: {
          requests_per_minute: tierRateLimits[account.tier].limit,
          marketplace_calls_per_wallet_per_minute: env.agentCalls.walletCallsPerMinute,
        },
      };
    },
    verify(apiKey, options = {}) {
      return verifyApiKey(db, apiKey, options.reuseRecent ? recentVerifications : null);
    },
    async setSpendLimit(accountId, keyId, update) {
      const result = await setKeySpendLimit(db, accountId, keyId, update);
      if (result.ok) return result.key;
      if (result.code === "key_revoked") throw new ApiError("conflict", "This key is revoked: its spend limit can no longer change.");
      throw keyNotFound();
    },
  };

  const walletLimit = marketplaceWalletLimit(env.agentCalls.walletCallsPerMinute);
  const callDeps: CallDeps = {
    db,
    ledger,
    ring: app.ring,
    agents: app.agents,
    pricing: env.pricing,
    policy,
    maxAgentPriceMicro: env.limits.maxAgentPriceMicro,
    maxPriorityFeeLamports: env.limits.maxPriorityFeeLamports,
    marketplaceLimit: walletLimit ? { limiter: app.limiter, policy: walletLimit } : null,
    callTimeoutMs: (agent) => agentTimeoutMs(agent) + env.agentCalls.callMarginMs,
    confirmWaitMs: env.agentCalls.confirmWaitMs,
    recoverPendingAfterMs: env.agentCalls.recoverPendingAfterMs,
    funding,
  };
  /** What an operator must hear of from a call's outcome: an agent cut off (its breaker open), a funding cap hit. */
  const alertOnOutcome = async (outcome: CallOutcome) => {
    if (outcome.kind === "agent_failed") {
      const open = await openAgentBreakers(db);
      for (const [agentId, until] of open) {
        await alerts.raise({
          kind: "circuit_open",
          key: agentId,
          message: `Agent ${agentId} failed after payment too often: its circuit breaker is open until ${until}, no call is paid to it meanwhile.`,
          details: { agent_id: agentId, open_until: until },
        });
      }
    }
    if (outcome.kind === "refused" && outcome.refusal.code === "reservation") {
      const topUp = outcome.refusal.topUp;
      if (topUp && /_cap_reached$/.test(topUp)) {
        await alerts.raise({
          kind: "funding_cap_hit",
          key: topUp,
          message: `A wallet could not be topped up on the call path: ${topUp.replaceAll("_", " ")}. Calls of that key are refused until the cap's day ends.`,
          details: { code: topUp },
        });
      }
    }
  };
  const recoverBefore = () => new Date(Date.now() - env.agentCalls.recoverPendingAfterMs);
  const calls: CallService = {
    deps: callDeps,
    async call(key, request) {
      const outcome = await paidCall(callDeps, key, request);
      // The key no longer verifies: its next request is verified afresh, and answered as such.
      if (outcome.kind === "refused" && outcome.refusal.code === "reservation") {
        const { code } = outcome.refusal.refusal;
        if (code === "key_inactive" || code === "account_suspended") recentVerifications.forgetKey(key.key_id);
      }
      // A step that failed after the reservation gets its own line (the request's line says how it ended).
      if (outcome.kind === "agent_failed" || outcome.kind === "unknown" || outcome.kind === "not_paid") {
        logger.warn("paid call step failed", {
          request_id: request.requestId,
          key_id: key.key_id,
          outcome: outcome.kind,
          step: outcome.kind === "not_paid" ? "build_payment" : "submit_and_settle",
          reason:
            outcome.kind === "not_paid" ? outcome.reason.code : outcome.kind === "agent_failed" ? outcome.message.slice(0, 200) : null,
          tx_signature: outcome.kind === "not_paid" ? null : outcome.txSignature,
        });
      }
      await alertOnOutcome(outcome);
      return outcome;
    },
    async get(keyId, requestId) {
      // Request ids are ours (req_…); anything longer is not one.
      const call = requestId.length <= 100 ? await getCall(db, keyId, requestId) : null;
      if (!call) throw new ApiError("not_found", "This key has no call with that request id.");
      return toCallView(call);
    },
    async recoverPending() {
      const result = await recoverPendingCalls({ db, ledger, policy, agents: app.agents }, { olderThan: recoverBefore(), limit: 500 });
      const stale = await alertStalePending(db, { ...alertOptions, raise: (alert) => alerts.raise(alert) });
      return { ...result, stale_calls: stale.calls, stale_fundings: stale.fundings };
    },
  };

  const usage: UsageService = {
    read: (searchParams, scopeFor) => readUsage(db, searchParams, scopeFor),
    summary: (scope, range) => usageSummary(db, scope, range),
    page: (scope, options) => usagePage(db, scope, options),
    async scopeForAccount(accountId, keyId) {
      if (keyId && !(await getApiKey(db, accountId, keyId))) throw keyNotFound();
      return { accountId, keyId: keyId ?? null };
    },
  };

  const catalog: CatalogService = {
    async list() {
      const [agents, openBreakers] = await Promise.all([
        app.agents.client.listAgents().catch((error: Error) => {
          throw new ApiError("marketplace_error", `The agent marketplace is unavailable: ${error.message}`);
        }),
        openAgentBreakers(db),
      ]);
      return conform(agentCatalogSchema, {
        markup_pct: env.pricing.markupBps / 100,
        max_agent_price_usd: microToUsd(env.limits.maxAgentPriceMicro),
        agents: catalogEntries(agents, {
          markupBps: env.pricing.markupBps,
          maxAgentPriceMicro: env.limits.maxAgentPriceMicro,
          openBreakers,
          usdcMint: ledger.usdcMint.toBase58(),
        }),
      });
    },
  };

  const stripeOff = () => new ApiError("service_unavailable", "Billing is not configured on this gateway.");
  const sessionGone = () => new ApiError("unauthorized", "The account of this session no longer exists.");
  const stripeParts = () => {
    if (!app.stripe || !env.stripe) throw stripeOff();
    return { stripe: app.stripe, config: env.stripe };
  };
  const billing: BillingService = {
    enabled: app.stripe !== null && env.stripe !== null,
    async changePlan(accountId, tier, origin) {
      const { stripe, config } = stripeParts();
      const result = await changePlan({ db, stripe, prices: config.prices, appUrl: origin }, accountId, tier);
      if (result.ok)
        return result.action === "checkout" ? { action: "checkout", url: result.url } : { action: "updated", tier: result.tier };
      if (result.code === "already_subscribed") throw new ApiError("conflict", `This account is already on the ${tier} tier.`);
      if (result.code === "price_not_configured")
        throw new ApiError("service_unavailable", `No Stripe price is configured for the ${tier} tier.`);
      throw sessionGone();
    },
    async cardSetup(accountId, origin) {
      if (!app.stripe) throw new ApiError("service_unavailable", "Billing is not configured on this gateway: no card is needed.");
      const result = await createCardSetupSession({ db, stripe: app.stripe, appUrl: origin }, accountId);
      if (!result.ok) throw sessionGone();
      return result.url;
    },
    async portal(accountId, origin) {
      if (!app.stripe) throw stripeOff();
      const result = await createPortalSession({ db, stripe: app.stripe, appUrl: origin }, accountId);
      if (!result.ok) throw sessionGone();
      return result.url;
    },
    async webhook(rawBody, signature) {
      const { stripe, config } = stripeParts();
      let result: Awaited<ReturnType<typeof handleStripeWebhook>>;
      try {
        result = await handleStripeWebhook({ db, stripe, webhookSecret: config.webhookSecret, prices: config.prices }, rawBody, signature);
      } catch (error) {
        // The claim was released: Stripe delivers it again. An operator hears of it once per event type an hour.
        // The signature was checked before any handler ran: the body is Stripe's event.
        const parsed = z.object({ type: z.string().max(100) }).safeParse(JSON.parse(rawBody));
        const type = parsed.success ? parsed.data.type : "unknown";
        await alerts.raise({
          kind: "webhook_failing",
          key: type,
          message: `The Stripe webhook handler for ${type} failed (${(error as Error).message.slice(0, 200)}); Stripe will deliver the event again.`,
          details: { event_type: type },
        });
        throw error;
      }
      if (result.ok) return { id: result.event_id, outcome: result.outcome };
      if (result.code === "in_progress")
        throw new ApiError("conflict", `Event ${result.event_id} is being processed by another delivery; deliver it again later.`);
      throw new ApiError("invalid_signature", `Webhook signature verification failed: ${result.message}`);
    },
    async overview(account) {
      const [billingAccount, invoices] = await Promise.all([getBillingAccount(db, account.id), listBillingPeriods(db, account.id)]);
      const now = new Date();
      const lastInvoiced = invoices.find((invoice) => invoice.status !== "draft")?.period_end;
      const from = lastInvoiced ? new Date(lastInvoiced) : new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
      const usage = await billableUsage(db, account.id, from);
      return {
        tier: account.tier,
        subscriptionStatus: billingAccount?.subscription_status ?? null,
        currentPeriod: {
          from: from.toISOString(),
          calls: usage.calls,
          billableMicro: usage.billable_micro,
          reportedMicro: usage.reported_micro,
        },
        invoices,
      };
    },
    async reportUsage() {
      if (!app.stripe || !env.stripe) return null;
      const summary = await reportUsage({ db, stripe: app.stripe, meterEventName: env.stripe.meterEventName, log: logLine("warn") });
      if (summary.flagged > 0 || summary.retry_later > 0) {
        await alerts.raise({
          kind: "usage_report_failing",
          message: `Usage reporting to Stripe is failing: ${summary.retry_later} batches left for the next run, ${summary.flagged} flagged for good (never billed unless an operator acts).`,
          details: { ...summary },
        });
      }
      const lag = await unreportedUsageAge(db);
      if (lag.oldestSeconds > USAGE_REPORT_LAG_ALERT_SECONDS) {
        await alerts.raise({
          kind: "usage_report_lagging",
          message: `Billable usage waits to be reported to Stripe: ${lag.calls} calls, the oldest ${Math.round(lag.oldestSeconds / 3600)} hours old (Stripe refuses events older than 35 days).`,
          details: { calls: lag.calls, oldest_seconds: Math.round(lag.oldestSeconds) },
        });
      }
      return summary;
    },
  };

  const alerts: AlertService = {
    async raise(alert) {
      // Once per cause per window, whichever instance sees it first; the log line always.
      if (await claimAlert(db, alert.kind, alert.key ?? "-", ALERT_REPEAT_SECONDS)) await raiseAlert(alert, alertOptions);
      else logger.info("alert already sent for this cause within the window", { kind: alert.kind, key: alert.key ?? null });
    },
    async checkTreasury() {
      const health = await treasuryHealth(db, ledger, env.treasuryFloat);
      if (health.status !== "ok") {
        await alerts.raise({
          kind: "treasury_low",
          message:
            health.status === "missing"
              ? "No treasury is configured: wallets cannot be funded."
              : `Treasury ${health.public_key} is under 20% of its float in ${health.low.join(" and ")}: ${health.usdc} USDC, ${health.sol} SOL.`,
          details: { ...health },
        });
      }
      return health;
    },
  };

  const ops: OpsService = {
    health: () => healthReport(app),
    async reconcile(range) {
      const report = await reconcile(db, ledger, range);
      const treasuryKey = await treasuryPublicKey(db);
      if (treasuryKey) report.differences.push(...(await reconcileTreasury(db, ledger, new PublicKey(treasuryKey))));
      const stripeOn = app.stripe !== null && env.stripe !== null;
      if (stripeOn) report.differences.push(...(await reconcileStripe(db, app.stripe!, env.stripe!.meterEventName, range)));
      // Kinds this run looked for: a stored difference of one of them that is no longer found is resolved.
      const kinds = [...RECONCILED_KINDS, ...(treasuryKey ? TREASURY_KINDS : []), ...(stripeOn ? ["stripe_meter_mismatch"] : [])];
      const stored = await recordReconciliation(
        db,
        report.differences.map((difference) => ({ kind: difference.kind, id: difference.id, detail: difference.detail })),
        kinds,
      );
      if (stored.new.length > 0) {
        const byKind = new Map<string, number>();
        for (const found of stored.new) byKind.set(found.kind, (byKind.get(found.kind) ?? 0) + 1);
        await alerts.raise({
          kind: "reconciliation_difference",
          key: `${range.from.toISOString()}:${[...byKind.keys()].sort().join(",")}`,
          message: `Reconciliation of ${range.from.toISOString().slice(0, 10)} found ${stored.new.length} new differences: ${[...byKind]
            .map(([kind, count]) => `${count} ${kind.replaceAll("_", " ")}`)
            .join(", ")}. ${stored.open} are open in all.`,
          details: { new: stored.new.slice(0, 50), open: stored.open },
        });
      }
      return {
        report,
        treasury_checked: treasuryKey !== null,
        stripe_checked: stripeOn,
        new_differences: stored.new.length,
        open_differences: stored.open,
      };
    },
    async metrics() {
      const [data, treasury] = await Promise.all([metricsData(db), treasuryHealth(db, ledger, env.treasuryFloat)]);
      return metricsText(data, treasury);
    },
    resetMonthlyCounters: () => resetMonthlyCounters(db),
  };

  const notAdmin = () => new ApiError("not_found", "Not found.");
  const refusedIfMissing = (result: { ok: boolean }) => {
    if (!result.ok) throw new ApiError("not_found", "No such account or agent.");
  };
  const admin: AdminService = {
    operator(session, options = {}) {
      if (session?.account.role !== "admin") throw notAdmin();
      const age = session.created_at ? Date.now() - Date.parse(session.created_at) : Number.POSITIVE_INFINITY;
      if (options.action && age > OPERATOR_SESSION_MAX_AGE_MS) {
        throw new ApiError("reauthentication_required", "Console actions need a recent log-in: log out and in again.");
      }
      return { accountId: session.account.id, actor: `operator:${session.account.id}` };
    },
    search: (query) => searchAccounts(db, query.slice(0, 200)),
    account: (accountId) => adminAccount(db, accountId),
    breakers: () => openBreakers(db),
    async suspend(operator, accountId, reason) {
      refusedIfMissing(await setSuspension(db, operator.actor, accountId, reason));
    },
    async lift(operator, accountId) {
      refusedIfMissing(await setSuspension(db, operator.actor, accountId, null));
    },
    async setTier(operator, accountId, tier) {
      refusedIfMissing(await setTier(db, operator.actor, accountId, tier));
    },
    async resolveFlagged(operator, accountId, retry) {
      const result = await resolveFlagged(db, operator.actor, accountId, retry);
      return { calls: result.calls, micro: result.micro };
    },
    async resetBreaker(operator, agentId) {
      refusedIfMissing(await resetBreaker(db, operator.actor, agentId));
    },
    async setOverrides(operator, accountId, overrides) {
      refusedIfMissing(await setOverrides(db, operator.actor, accountId, overrides));
    },
    auditLog: (accountId, limit = 100) => auditEntries(db, accountId, null, limit),
    differences: () => openReconciliationDifferences(db),
  };

  return { app, logger, limits, accounts, keys, calls, usage, catalog, funding, billing, alerts, ops, admin };
}
