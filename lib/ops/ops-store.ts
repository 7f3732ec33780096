import { z } from "zod";
import { tierSchema } from "@/lib/auth/schemas";
import { usageStatusSchema } from "@/lib/calls/schemas";
import { callFunction, type Database } from "@/lib/db";

/** The operations' SQL functions, typed: the crons' wallet pages, sweeps, stale rows, reconciliation. */

const walletPageSchema = z.array(z.object({ key_id: z.string().uuid(), wallet_public_key: z.string() }));
export type WalletPage = z.infer<typeof walletPageSchema>;

/** A page of wallets in key-id order after `afterId`: the active keys' (top-up) or the revoked ones still to sweep. */
export function listWalletPage(db: Database, listing: "active" | "to_sweep", afterId: string | null, limit: number): Promise<WalletPage> {
  const fn = listing === "active" ? "tdk_list_active_wallets" : "tdk_list_wallets_to_sweep";
  return callFunction(db, fn, { p_after_id: afterId, p_limit: limit }, walletPageSchema);
}

/** Marks revoked keys' wallets read empty as swept, in one statement; how many were. */
export async function markWalletsSwept(db: Database, keyIds: string[]): Promise<number> {
  return (await callFunction(db, "tdk_mark_wallets_swept", { p_key_ids: keyIds }, z.object({ updated: z.number().int() }))).updated;
}

const staleSchema = z.object({ calls: z.number().int(), oldest_call: z.string().nullable(), fundings: z.number().int() });

/** How many calls and fundings are still pending since before `olderThan`. */
export function stalePending(db: Database, olderThan: Date) {
  return callFunction(db, "tdk_stale_pending", { p_older_than: olderThan }, staleSchema);
}

const reconciliationSchema = z.object({
  usage: z.array(
    z.object({
      id: z.string(),
      status: usageStatusSchema,
      billing_status: z.enum(["unreported", "claimed", "reported", "not_billable", "flagged"]),
      tier: tierSchema,
      tx_signature: z.string().nullable(),
      agent_cost_micro: z.number().int(),
      developer_cost_micro: z.number().int(),
      batch_id: z.string().nullable(),
      created_at: z.string(),
    }),
  ),
  batches: z.array(
    z.object({
      id: z.string(),
      status: z.string(),
      stripe_customer_id: z.string(),
      total_micro: z.number().int(),
      calls: z.number().int(),
      rows_micro: z.number().int(),
      rows: z.number().int(),
    }),
  ),
  fundings: z.array(
    z.object({
      id: z.string(),
      reason: z.enum(["initial", "topup", "sweep"]),
      status: z.enum(["pending", "confirmed", "failed"]),
      usdc_micro: z.number().int(),
      sol_lamports: z.number().int(),
      overhead_lamports: z.number().int(),
      tx_signature: z.string().nullable(),
      wallet_public_key: z.string(),
      created_at: z.string(),
      key_swept: z.boolean(),
    }),
  ),
});

/** A period's usage rows, report batches and fundings, for reconciliation. */
export function reconciliationData(db: Database, range: { from: Date; to: Date }) {
  return callFunction(db, "tdk_reconciliation", { p_from: range.from, p_to: range.to }, reconciliationSchema);
}

const walletsSchema = z.array(
  z.object({
    key_id: z.string(),
    wallet_public_key: z.string(),
    fundings: z.array(
      z.object({
        tx_signature: z.string(),
        reason: z.enum(["initial", "topup", "sweep"]),
        status: z.string(),
        usdc_micro: z.number().int(),
      }),
    ),
    payments: z.array(z.object({ tx_signature: z.string(), status: z.string(), agent_cost_micro: z.number().int() })),
  }),
);

/** Every wallet with a movement in the period, with the fundings and payments recorded for it. */
export function walletMovements(db: Database, range: { from: Date; to: Date }) {
  return callFunction(db, "tdk_wallet_movements", { p_from: range.from, p_to: range.to }, walletsSchema);
}

export const auditEntrySchema = z.object({
  id: z.number().int(),
  at: z.string(),
  actor: z.string().describe("account:<id> (the developer), stripe, system, or operator:<id>"),
  account_id: z.string().nullable(),
  action: z.string().describe("key.created, key.rotated, key.revoked, key.spend_limit_changed, account.suspended, wallet.swept, ..."),
  target_type: z.string(),
  target_id: z.string(),
  before: z.record(z.string(), z.unknown()).nullable(),
  after: z.record(z.string(), z.unknown()).nullable(),
});
export type AuditEntry = z.infer<typeof auditEntrySchema>;
export const auditResponseSchema = z.object({
  entries: z.array(auditEntrySchema),
  next_before: z.number().int().nullable().describe("Pass as ?before= for the next (older) page; null at the end"),
});

/** A page of the audit log, newest first: one account's, or (null) every account's. */
export function auditEntries(db: Database, accountId: string | null, beforeId: number | null, limit: number): Promise<AuditEntry[]> {
  return callFunction(
    db,
    "tdk_audit_entries",
    { p_account_id: accountId, p_before_id: beforeId, p_limit: limit },
    z.array(auditEntrySchema),
  );
}

const metricsSchema = z.object({
  calls: z.array(
    z.object({
      agent_id: z.string(),
      agent_name: z.string().nullable(),
      succeeded: z.number().int(),
      failed: z.number().int(),
      agent_failed: z.number().int(),
      pending: z.number().int(),
      developer_cost_micro: z.number().int(),
      agent_cost_micro: z.number().int(),
    }),
  ),
  pending_calls: z.number().int(),
  oldest_pending_call: z.string().nullable(),
  unreported_calls: z.number().int(),
  unreported_micro: z.number().int(),
  oldest_unreported_call: z.string().nullable(),
  pending_fundings: z.number().int(),
  open_breakers: z.number().int(),
  reconciliation_differences: z.record(z.string(), z.number().int()),
});
export type MetricsData = z.infer<typeof metricsSchema>;

/** What the metrics endpoint reads from the database at a scrape. */
export function metricsData(db: Database): Promise<MetricsData> {
  return callFunction(db, "tdk_metrics", {}, metricsSchema);
}

/** Claims an alert's sending for its cause: true once per window (the first raise, then after the window). */
export async function claimAlert(db: Database, kind: string, key: string, windowSeconds: number): Promise<boolean> {
  return (
    await callFunction(
      db,
      "tdk_claim_alert",
      { p_kind: kind, p_key: key, p_window_seconds: windowSeconds },
      z.object({ send: z.boolean(), raised: z.number().int() }),
    )
  ).send;
}

/** The billable usage waiting to be reported to Stripe: how many calls, and the oldest one's age. */
export async function unreportedUsageAge(db: Database): Promise<{ calls: number; oldestSeconds: number }> {
  const data = await metricsData(db);
  const oldest = data.oldest_unreported_call ? (Date.now() - Date.parse(data.oldest_unreported_call)) / 1000 : 0;
  return { calls: data.unreported_calls, oldestSeconds: Math.max(0, oldest) };
}

/** Stores a reconcile run's differences: new ones added, known ones seen again, those of these kinds no longer found resolved. */
export function recordReconciliation(db: Database, differences: { kind: string; id: string; detail: string }[], kinds: string[]) {
  return callFunction(
    db,
    "tdk_record_reconciliation",
    { p_differences: differences, p_kinds: kinds },
    z.object({ new: z.array(z.object({ kind: z.string(), id: z.string() })), open: z.number().int() }),
  );
}

export const openDifferenceSchema = z.object({
  kind: z.string(),
  id: z.string(),
  detail: z.string(),
  first_seen_at: z.string(),
  last_seen_at: z.string(),
});

/** The differences the last runs found and no later run resolved, most recent first. */
export function openReconciliationDifferences(db: Database, limit = 200) {
  return callFunction(db, "tdk_open_reconciliation_differences", { p_limit: limit }, z.array(openDifferenceSchema));
}

/** What was reported to Stripe per customer for meter events timed in [from, to). */
export function reportedByCustomer(db: Database, range: { from: Date; to: Date }) {
  return callFunction(
    db,
    "tdk_reported_by_customer",
    { p_from: range.from, p_to: range.to },
    z.array(z.object({ customer: z.string(), reported_micro: z.number().int(), batches: z.number().int() })),
  );
}

/** Every treasury movement recorded (fundings and sweeps with a signature, not failed): what the treasury's chain history must show. */
export function treasuryFundings(db: Database) {
  return callFunction(
    db,
    "tdk_treasury_fundings",
    {},
    z.array(z.object({ tx_signature: z.string(), reason: z.enum(["initial", "topup", "sweep"]), usdc_micro: z.number().int() })),
  );
}
