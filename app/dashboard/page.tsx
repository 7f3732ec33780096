import type { Metadata } from "next";
import Link from "next/link";
import { AccountNotices } from "@/app/_components/account-notices";
import { BillingPortalForm } from "@/app/_components/billing-forms";
import { CallsTable } from "@/app/_components/calls-table";
import { CreateKeyForm } from "@/app/_components/create-key-form";
import { UpgradeForm } from "@/app/_components/upgrade-form";
import { UsageChart } from "@/app/_components/usage-chart";
import { WalletsTable } from "@/app/_components/wallets-table";
import { microToUsd } from "@/lib/money/units";
import { withPageSession } from "@/lib/http/page-session";
import { tierRateLimits } from "@/lib/ratelimit/policies";
import { explorerTxUrl } from "@/lib/solana/explorer";

export const metadata: Metadata = { title: "Dashboard · TDK gateway" };
export const dynamic = "force-dynamic";

const DAY_MS = 86_400_000;

export default withPageSession(async function DashboardPage({ session, services }) {
  const { app } = services;
  const scope = { accountId: session.account.id, keyId: null };
  const now = new Date();
  const end = new Date(now.getTime() + 1);
  const todayStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
  const monthStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
  const chartStart = new Date(todayStart.getTime() - 29 * DAY_MS);
  const days = Array.from({ length: 30 }, (_, i) => new Date(chartStart.getTime() + i * DAY_MS).toISOString().slice(0, 10));

  const [keys, today, month, last30, recent] = await Promise.all([
    services.keys.list(session.account.id),
    services.usage.summary(scope, { from: todayStart, to: end }),
    services.usage.summary(scope, { from: monthStart, to: end }),
    services.usage.summary(scope, { from: chartStart, to: end }),
    services.usage.page(scope, { limit: 20, range: { from: chartStart, to: end } }),
  ]);
  const { tier, ops_this_month: used } = session.account;
  const quota = app.env.pricing.freeMonthlyQuota;
  const keyNames = new Map(keys.map((key) => [key.id, `${key.name} (${key.prefix}…)`]));

  return (
    <>
      <h1>Dashboard</h1>
      <section aria-labelledby="plan-heading">
        <h2 id="plan-heading">Plan and limits</h2>
        <p>
          Tier <strong data-testid="tier">{tier}</strong>: {tierRateLimits[tier].limit.toLocaleString("en-US")} calls per minute per key.
        </p>
        {tier === "free" ? (
          <p>
            <span id="quota-label">
              Calls this month: <strong data-testid="quota-used">{used}</strong> of {quota.toLocaleString("en-US")}
            </span>{" "}
            <progress aria-labelledby="quota-label" max={quota} value={Math.min(used, quota)} />
          </p>
        ) : (
          <p>
            Calls this month: <strong data-testid="quota-used">{used}</strong> (no monthly quota; billed per call).
          </p>
        )}
        {tier === "free" && (
          <p data-testid="free-allowance">
            Free allowance this month: {microToUsd(session.account.free_spent_micro)} of{" "}
            {session.account.free_allowance ? microToUsd(app.env.limits.freeMonthlyAllowanceMicro) : "0.000000"} USD of agent cost used
            {!session.account.free_allowance && " (your card already gave the free allowance to another account)"}.
          </p>
        )}
        <AccountNotices account={session.account} billing={services.billing.enabled} />
        {services.billing.enabled && <UpgradeForm tier={tier} />}
        {services.billing.enabled && <BillingPortalForm />}
      </section>

      <section aria-labelledby="spend-heading">
        <h2 id="spend-heading">Spend</h2>
        <p className="muted" data-testid="spend-billing-note">
          {tier === "free"
            ? "On the free tier nothing is billed: the costs below come out of your free allowance."
            : "Billed through Stripe at the end of each billing period: succeeded calls only (see Billing)."}
        </p>
        <table>
          <thead>
            <tr>
              <th scope="col">Period</th>
              <th scope="col">Calls</th>
              <th scope="col">Cost at your price (USD)</th>
            </tr>
          </thead>
          <tbody>
            <tr data-testid="spend-today">
              <th scope="row">Today (UTC)</th>
              <td>{today.calls}</td>
              <td>{microToUsd(today.developer_cost_micro)}</td>
            </tr>
            <tr data-testid="spend-month">
              <th scope="row">This month</th>
              <td>{month.calls}</td>
              <td>{microToUsd(month.developer_cost_micro)}</td>
            </tr>
          </tbody>
        </table>
        <h3>This month by agent</h3>
        {month.by_agent.length === 0 ? (
          <p>No calls yet this month.</p>
        ) : (
          <ul>
            {month.by_agent.map((agent) => (
              <li key={agent.agent_id}>
                {agent.agent_name ?? agent.agent_id}: {agent.calls} calls, ${microToUsd(agent.developer_cost_micro)}
              </li>
            ))}
          </ul>
        )}
      </section>

      <section aria-labelledby="chart-heading">
        <h2 id="chart-heading">Last 30 days</h2>
        <UsageChart rows={last30.by_day_agent} days={days} />
      </section>

      <section aria-labelledby="keys-heading">
        <h2 id="keys-heading">Keys and wallets</h2>
        {keys.length === 0 ? (
          <p>
            No keys yet: create your first one below, then follow the <Link href="/docs#quickstart">quickstart</Link>.
          </p>
        ) : (
          <WalletsTable keys={keys} rowTestId="dashboard-key" />
        )}
        <CreateKeyForm />
        <p>
          <Link href="/keys">Manage keys</Link> · <Link href="/docs">Docs and API reference</Link>
        </p>
      </section>

      <section aria-labelledby="recent-heading">
        <h2 id="recent-heading">Recent calls</h2>
        {recent.items.length === 0 ? (
          <p>No calls yet.</p>
        ) : (
          <CallsTable
            calls={recent.items}
            keyNames={keyNames}
            explorerUrl={(signature) => explorerTxUrl(app.env, signature)}
            rowTestId="recent-call"
          />
        )}
      </section>
    </>
  );
});
