import { PublicKey } from "@solana/web3.js";
import type Stripe from "stripe";
import type { Database } from "@/lib/db";
import { reconciliationData, reportedByCustomer, treasuryFundings, walletMovements } from "./ops-store";
import { associatedTokenAddress } from "@/lib/solana/signing";
import type { Ledger, SignatureStatus } from "@/lib/solana/ledger";

/**
 * Reconciliation for a period, three ledgers against each other:
 *  - chain vs usage: every call recorded as paid has its payment confirmed on the chain, and no
 *    call recorded as not paid has one;
 *  - usage vs Stripe: every report batch's meter value equals the sum of its rows; billable
 *    settled usage is reported (or still in flight), never silently left out;
 *  - fundings vs chain: every first funding, top-up and sweep is on the chain as recorded, and a
 *    swept wallet holds no USDC any more;
 *  - each wallet active in the period, all time: every transaction the chain has for it is one the
 *    database knows (an unknown one that took USDC out is a payment with no usage row), and its
 *    balance equals what its recorded movements that landed add up to;
 *  - anything still pending is listed.
 */

export interface Difference {
  kind:
    | "paid_in_usage_not_on_chain"
    | "paid_on_chain_not_in_usage"
    | "batch_total_mismatch"
    | "reported_not_in_batch"
    | "billable_not_reported"
    | "flagged_for_operator"
    | "pending"
    | "funding_not_on_chain"
    | "funding_on_chain_recorded_failed"
    | "funding_pending"
    | "swept_wallet_not_empty"
    | "unrecorded_inflow"
    | "wallet_balance_mismatch"
    | "treasury_outflow_not_recorded"
    | "treasury_amount_mismatch"
    | "stripe_meter_mismatch";
  id: string;
  detail: string;
}

export interface ReconciliationReport {
  from: string;
  to: string;
  calls: number;
  paid_on_chain_micro: number;
  billable_developer_micro: number;
  reported_micro: number;
  in_flight_micro: number;
  /** Treasury → wallets (first fundings and top-ups) and wallets → treasury (sweeps), confirmed. */
  funded_usdc_micro: number;
  swept_usdc_micro: number;
  /** SOL the treasury sent (transfers, rent, fees) and got back (sweeps, net of their fees). */
  funded_sol_lamports: number;
  swept_sol_lamports: number;
  differences: Difference[];
}

export async function reconcile(
  db: Database,
  ledger: Ledger,
  range: { from: Date; to: Date },
  options: { graceMs?: number } = {},
): Promise<ReconciliationReport> {
  const data = await reconciliationData(db, range);
  const differences: Difference[] = [];
  let paidOnChain = 0;
  let billable = 0;
  let reported = 0;
  let inFlight = 0;
  const grace = options.graceMs ?? 2 * 3_600_000;

  const chain = await signatureStatuses(ledger, [
    ...data.usage.map((row) => row.tx_signature),
    ...data.fundings.map((funding) => funding.tx_signature),
  ]);
  const onChainOf = (signature: string | null): SignatureStatus => (signature ? chain.get(signature)! : "unknown");

  for (const row of data.usage) {
    const onChain = onChainOf(row.tx_signature);
    const recordedPaid = row.status === "succeeded" || row.status === "agent_failed";
    if (onChain === "confirmed") paidOnChain += row.agent_cost_micro;
    if (recordedPaid && onChain !== "confirmed") {
      differences.push({
        kind: "paid_in_usage_not_on_chain",
        id: row.id,
        detail: `${row.status} with ${row.tx_signature ?? "no signature"} (${onChain} on chain)`,
      });
    }
    if (row.status === "failed" && onChain === "confirmed") {
      differences.push({ kind: "paid_on_chain_not_in_usage", id: row.id, detail: `recorded failed, but ${row.tx_signature} landed` });
    }
    if (row.status === "pending") differences.push({ kind: "pending", id: row.id, detail: `pending since ${row.created_at}` });

    if (row.status !== "succeeded" || row.tier === "free") continue;
    billable += row.developer_cost_micro;
    if (row.billing_status === "reported") {
      reported += row.developer_cost_micro;
      if (!row.batch_id) differences.push({ kind: "reported_not_in_batch", id: row.id, detail: "reported without a batch" });
    } else if (row.billing_status === "flagged") {
      differences.push({
        kind: "flagged_for_operator",
        id: row.id,
        detail: `${row.developer_cost_micro} micro-USD not reported (too old or refused by Stripe)`,
      });
    } else {
      inFlight += row.developer_cost_micro;
      if (Date.now() - Date.parse(row.created_at) > grace) {
        differences.push({ kind: "billable_not_reported", id: row.id, detail: `${row.billing_status} since ${row.created_at}` });
      }
    }
  }
  // Fundings and sweeps: each recorded movement is on the chain as recorded, and a swept wallet is empty.
  let fundedUsdc = 0;
  let sweptUsdc = 0;
  let fundedSol = 0;
  let sweptSol = 0;
  for (const funding of data.fundings) {
    const onChain = onChainOf(funding.tx_signature);
    if (funding.status === "pending") {
      differences.push({ kind: "funding_pending", id: funding.id, detail: `${funding.reason} pending since ${funding.created_at}` });
    } else if (funding.status === "confirmed" && onChain !== "confirmed") {
      differences.push({
        kind: "funding_not_on_chain",
        id: funding.id,
        detail: `${funding.reason} confirmed with ${funding.tx_signature} (${onChain} on chain)`,
      });
    } else if (funding.status === "failed" && onChain === "confirmed") {
      differences.push({
        kind: "funding_on_chain_recorded_failed",
        id: funding.id,
        detail: `${funding.reason} recorded failed, but ${funding.tx_signature} landed`,
      });
    }
    if (funding.status !== "confirmed") continue;
    if (funding.reason === "sweep") {
      sweptUsdc += funding.usdc_micro;
      sweptSol += funding.sol_lamports - funding.overhead_lamports;
      if (funding.key_swept) {
        const left = await ledger.getUsdcBalance(new PublicKey(funding.wallet_public_key));
        if (left > 0n)
          differences.push({
            kind: "swept_wallet_not_empty",
            id: funding.id,
            detail: `${funding.wallet_public_key} still holds ${left} micro-USDC`,
          });
      }
    } else {
      fundedUsdc += funding.usdc_micro;
      fundedSol += funding.sol_lamports + funding.overhead_lamports;
    }
  }
  differences.push(...(await reconcileWallets(db, ledger, range, chain)));
  for (const batch of data.batches) {
    if (batch.total_micro !== batch.rows_micro || batch.calls !== batch.rows) {
      differences.push({
        kind: "batch_total_mismatch",
        id: batch.id,
        detail: `meter value ${batch.total_micro} for ${batch.calls} calls, rows sum ${batch.rows_micro} for ${batch.rows}`,
      });
    }
  }
  return {
    from: range.from.toISOString(),
    to: range.to.toISOString(),
    calls: data.usage.length,
    paid_on_chain_micro: paidOnChain,
    billable_developer_micro: billable,
    reported_micro: reported,
    in_flight_micro: inFlight,
    funded_usdc_micro: fundedUsdc,
    swept_usdc_micro: sweptUsdc,
    funded_sol_lamports: fundedSol,
    swept_sol_lamports: sweptSol,
    differences,
  };
}

/** Each signature's status on the chain, asked once: those already in `known` are not asked again. */
async function signatureStatuses(
  ledger: Ledger,
  signatures: (string | null)[],
  known: Map<string, SignatureStatus> = new Map(),
): Promise<Map<string, SignatureStatus>> {
  const unique = [...new Set(signatures.filter((signature): signature is string => signature !== null && !known.has(signature)))];
  const statuses = await ledger.getSignatureStatuses(unique);
  for (const [i, signature] of unique.entries()) known.set(signature, statuses[i]!);
  return known;
}

/**
 * The wallet-level check. The chain's history of the wallet (its address and its USDC account) is
 * compared with every signature the database knows for it: one it does not know that moved USDC out
 * is a payment with no usage row; one that moved USDC in, an unrecorded inflow. Then the balance:
 * what the recorded movements that landed add up to (and the unknown ones), against what the chain
 * holds; a difference there means an amount recorded wrong.
 */
async function reconcileWallets(
  db: Database,
  ledger: Ledger,
  range: { from: Date; to: Date },
  known: Map<string, SignatureStatus>,
): Promise<Difference[]> {
  const wallets = await walletMovements(db, range);
  const differences: Difference[] = [];
  for (const wallet of wallets) {
    const owner = new PublicKey(wallet.wallet_public_key);
    const usdcAccount = associatedTokenAddress(ledger.usdcMint, owner);
    const recorded = new Set([...wallet.fundings.map((f) => f.tx_signature), ...wallet.payments.map((p) => p.tx_signature)]);
    const history = [...new Set([...(await ledger.signaturesForAddress(owner)), ...(await ledger.signaturesForAddress(usdcAccount))])];
    const chain = await signatureStatuses(ledger, [...recorded, ...history], known);

    let expected = 0n;
    for (const funding of wallet.fundings) {
      if (chain.get(funding.tx_signature) !== "confirmed") continue;
      expected += funding.reason === "sweep" ? -BigInt(funding.usdc_micro) : BigInt(funding.usdc_micro);
    }
    for (const payment of wallet.payments)
      if (chain.get(payment.tx_signature) === "confirmed") expected -= BigInt(payment.agent_cost_micro);
    for (const signature of history) {
      if (recorded.has(signature) || chain.get(signature) !== "confirmed") continue;
      const delta = await ledger.usdcDelta(signature, owner);
      if (delta === null || delta === 0n) continue;
      expected += delta;
      differences.push(
        delta < 0n
          ? {
              kind: "paid_on_chain_not_in_usage",
              id: signature,
              detail: `${-delta} micro-USDC left wallet ${wallet.wallet_public_key} (key ${wallet.key_id}) with no usage row or funding`,
            }
          : {
              kind: "unrecorded_inflow",
              id: signature,
              detail: `${delta} micro-USDC came into wallet ${wallet.wallet_public_key} (key ${wallet.key_id}) with no funding recorded`,
            },
      );
    }
    const balance = await ledger.getUsdcBalance(owner);
    if (balance !== expected) {
      differences.push({
        kind: "wallet_balance_mismatch",
        id: wallet.key_id,
        detail: `wallet ${wallet.wallet_public_key} holds ${balance} micro-USDC; its recorded movements that landed add up to ${expected}`,
      });
    }
  }
  return differences;
}

/**
 * The treasury's side: every USDC movement of the treasury on the chain is a funding or a sweep
 * the database recorded, for the amount it recorded. An outflow nobody recorded is money gone with
 * no wallet credited; an amount that differs is a funding recorded wrong. (Inflows with no record
 * are the operator's own deposits: not a difference.)
 */
export async function reconcileTreasury(db: Database, ledger: Ledger, treasury: PublicKey): Promise<Difference[]> {
  const fundings = await treasuryFundings(db);
  const expected = new Map<string, bigint>();
  for (const funding of fundings) {
    const delta = funding.reason === "sweep" ? BigInt(funding.usdc_micro) : -BigInt(funding.usdc_micro);
    expected.set(funding.tx_signature, (expected.get(funding.tx_signature) ?? 0n) + delta);
  }
  const usdcAccount = associatedTokenAddress(ledger.usdcMint, treasury);
  const history = [...new Set([...(await ledger.signaturesForAddress(treasury)), ...(await ledger.signaturesForAddress(usdcAccount))])];
  const statuses = await signatureStatuses(ledger, history);
  const differences: Difference[] = [];
  for (const signature of history) {
    if (statuses.get(signature) !== "confirmed") continue;
    const delta = await ledger.usdcDelta(signature, treasury);
    if (delta === null) continue;
    const recorded = expected.get(signature);
    if (recorded === undefined) {
      if (delta < 0n)
        differences.push({
          kind: "treasury_outflow_not_recorded",
          id: signature,
          detail: `${-delta} micro-USDC left the treasury with no funding recorded`,
        });
    } else if (recorded !== delta) {
      differences.push({
        kind: "treasury_amount_mismatch",
        id: signature,
        detail: `the treasury moved ${delta} micro-USDC; the fundings recorded ${recorded}`,
      });
    }
  }
  return differences;
}

/**
 * The bill's side: for each customer, what was reported to Stripe's meter for events timed in the
 * period equals what Stripe's meter event summaries say it holds for that customer and period.
 */
export async function reconcileStripe(
  db: Database,
  stripe: Stripe,
  meterEventName: string,
  range: { from: Date; to: Date },
): Promise<Difference[]> {
  const reported = await reportedByCustomer(db, range);
  if (reported.length === 0) return [];
  const meters = await stripe.billing.meters.list({ limit: 100 });
  const meter = meters.data.find((candidate) => candidate.event_name === meterEventName);
  const period = `${range.from.toISOString()} to ${range.to.toISOString()}`;
  if (!meter) {
    return reported.map((entry) => ({
      kind: "stripe_meter_mismatch" as const,
      id: `${entry.customer}:${range.from.toISOString()}`,
      detail: `no Stripe meter has the event name ${meterEventName}: ${entry.reported_micro} micro-USD reported for ${period} cannot be checked`,
    }));
  }
  const differences: Difference[] = [];
  for (const entry of reported) {
    const summaries = await stripe.billing.meters.listEventSummaries(meter.id, {
      customer: entry.customer,
      start_time: Math.floor(range.from.getTime() / 1000),
      end_time: Math.floor(range.to.getTime() / 1000),
    });
    const atStripe = summaries.data.reduce((sum, summary) => sum + BigInt(Math.round(summary.aggregated_value)), 0n);
    if (atStripe !== BigInt(entry.reported_micro)) {
      differences.push({
        kind: "stripe_meter_mismatch",
        id: `${entry.customer}:${range.from.toISOString()}`,
        detail: `for ${period}, ${entry.reported_micro} micro-USD reported in ${entry.batches} batches; Stripe's meter holds ${atStripe}`,
      });
    }
  }
  return differences;
}
