import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { TreasuryHealth } from "./treasury-health";
import type { MetricsData } from "./ops-store";

/**
 * Prometheus metrics. Two kinds:
 *  - measured in this process as things happen (a paid call's latency by outcome, the refusals of a
 *    cap or limit): they live on a process-wide registry, as each instance counts its own;
 *  - read at each scrape from the database and the chain (calls by outcome and agent, pending calls
 *    and their age, usage awaiting its report and its age, circuit breakers open, the treasury):
 *    the same from every instance.
 */
const holder = globalThis as {
  __tdkMetrics?: { registry: Registry; callSeconds: Histogram; requestSeconds: Histogram; capRefusals: Counter };
};

function processMetrics() {
  if (!holder.__tdkMetrics) {
    const registry = new Registry();
    holder.__tdkMetrics = {
      registry,
      // No labels: bounded, and each outcome's count is tdk_calls_total's.
      callSeconds: new Histogram({
        name: "tdk_call_duration_seconds",
        help: "Paid-call requests through this instance, from the request to the answer",
        buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 60, 120, 180, 300],
        registers: [registry],
      }),
      requestSeconds: new Histogram({
        name: "tdk_request_duration_seconds",
        help: "Every API request through this instance's wrappers, from the request to the answer",
        buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60, 300],
        registers: [registry],
      }),
      capRefusals: new Counter({
        name: "tdk_cap_refusals_total",
        help: "Calls refused by a cap or limit before anything was paid, by code (spend_limit_reached, quota_exceeded, ...)",
        labelNames: ["code"],
        registers: [registry],
      }),
    };
  }
  return holder.__tdkMetrics;
}

/** The codes that are a cap or a limit refusing a call (not a bad request, not an unknown agent). */
const CAP_CODES = new Set([
  "spend_limit_reached",
  "quota_exceeded",
  "free_allowance_exhausted",
  "agent_failure_cap_reached",
  "insufficient_balance",
  "marketplace_rate_limited",
  "card_required",
]);

/** Records a paid call as it ends: its latency, and a cap's refusal by code. */
export function observeCall(seconds: number, refusal: string | null): void {
  const metrics = processMetrics();
  metrics.callSeconds.observe(seconds);
  if (refusal && CAP_CODES.has(refusal)) metrics.capRefusals.inc({ code: refusal });
}

/** Records any API request's latency (the wrappers call it for every answer). */
export function observeRequest(seconds: number): void {
  processMetrics().requestSeconds.observe(seconds);
}

const ageSeconds = (since: string | null, now: number) => (since ? Math.max(0, (now - Date.parse(since)) / 1000) : 0);

/** The Prometheus text of a scrape: this instance's measurements, and the database's and the chain's state now. */
export async function metricsText(data: MetricsData, treasury: TreasuryHealth, now = Date.now()): Promise<string> {
  const snapshot = new Registry();
  const gauge = (name: string, help: string, value: number, labels: Record<string, string> = {}) => {
    const metric = new Gauge({ name, help, labelNames: Object.keys(labels), registers: [snapshot] });
    metric.set(labels, value);
  };
  const calls = new Counter({
    name: "tdk_calls_total",
    help: "Paid calls recorded, all time, by agent and outcome (succeeded, failed, agent_failed, pending)",
    labelNames: ["agent_id", "agent", "outcome"],
    registers: [snapshot],
  });
  const revenue = new Counter({
    name: "tdk_developer_cost_micro_total",
    help: "What succeeded calls cost developers (micro-USD), all time, by agent",
    labelNames: ["agent_id", "agent"],
    registers: [snapshot],
  });
  for (const row of data.calls) {
    const agent = { agent_id: row.agent_id, agent: row.agent_name ?? row.agent_id };
    for (const outcome of ["succeeded", "failed", "agent_failed", "pending"] as const) calls.inc({ ...agent, outcome }, row[outcome]);
    revenue.inc(agent, row.developer_cost_micro);
  }
  gauge("tdk_pending_calls", "Paid calls not settled yet (payment signed or in flight)", data.pending_calls);
  gauge("tdk_pending_call_oldest_age_seconds", "Age of the oldest pending call (0 when none)", ageSeconds(data.oldest_pending_call, now));
  gauge("tdk_usage_unreported_calls", "Billable calls not reported to Stripe yet", data.unreported_calls);
  gauge("tdk_usage_unreported_micro", "Their developer cost (micro-USD)", data.unreported_micro);
  gauge(
    "tdk_usage_unreported_oldest_age_seconds",
    "Age of the oldest billable call not reported (0 when none)",
    ageSeconds(data.oldest_unreported_call, now),
  );
  gauge("tdk_pending_fundings", "Treasury fundings and sweeps not resolved yet", data.pending_fundings);
  gauge("tdk_circuit_breakers_open", "Agents cut off for failing after payment", data.open_breakers);
  const differences = new Gauge({
    name: "tdk_reconciliation_differences",
    help: "Differences the reconcile cron found and no later run resolved, by kind",
    labelNames: ["kind"],
    registers: [snapshot],
  });
  differences.set(
    { kind: "any" },
    Object.values(data.reconciliation_differences).reduce((sum, n) => sum + n, 0),
  );
  for (const [kind, count] of Object.entries(data.reconciliation_differences)) differences.set({ kind }, count);
  gauge("tdk_treasury_usdc_micro", "The treasury's USDC (micro)", treasury.usdc_micro);
  gauge("tdk_treasury_sol_lamports", "The treasury's SOL (lamports)", treasury.sol_lamports);
  gauge("tdk_treasury_low", "1 when the treasury is under 20% of its float (or missing)", treasury.status === "ok" ? 0 : 1);
  return `${(await Registry.merge([processMetrics().registry, snapshot]).metrics()).trimEnd()}\n`;
}

export const PROMETHEUS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;
