// Reconciles a period: on-chain payments to agents vs settled usage, usage vs what was reported
// to Stripe, and fundings and sweeps vs the chain. Prints the totals and every difference; exits 1 when there is any.
//
//   npm run reconcile -- [--from 2026-11-01] [--to 2026-12-01]      (default: the current UTC month)
import { openLedger } from "@/lib/context";
import { openDatabase } from "@/lib/db";
import { parseEnv } from "@/lib/env";
import { reconcile } from "@/lib/ops/reconcile";
import { argument } from "./cli";

async function main() {
  const env = parseEnv(process.env);
  const now = new Date();
  const from = new Date(argument("from") ?? Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
  const to = new Date(argument("to") ?? Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));
  if (Number.isNaN(from.getTime()) || Number.isNaN(to.getTime()) || from >= to)
    throw new Error("--from and --to must be dates, from before to");
  const db = await openDatabase(env);
  const ledger = await openLedger(env);
  try {
    const report = await reconcile(db, ledger, { from, to });
    console.log(`Period ${report.from} → ${report.to}: ${report.calls} calls`);
    console.log(`paid to agents on chain: ${report.paid_on_chain_micro} micro-USD`);
    console.log(
      `billable (developer price): ${report.billable_developer_micro} · reported to Stripe: ${report.reported_micro} · in flight: ${report.in_flight_micro}`,
    );
    console.log(
      `treasury → wallets: ${report.funded_usdc_micro} micro-USD, ${report.funded_sol_lamports} lamports · swept back: ${report.swept_usdc_micro} micro-USD, ${report.swept_sol_lamports} lamports (net of fees)`,
    );
    if (report.differences.length === 0) {
      console.log("No differences.");
      return;
    }
    console.log(`${report.differences.length} difference(s):`);
    for (const difference of report.differences) console.log(`  ${difference.kind} ${difference.id}: ${difference.detail}`);
    process.exitCode = 1;
  } finally {
    await db.close();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
