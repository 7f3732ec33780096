import type { Metadata } from "next";
import Link from "next/link";
import { BillingPortalForm } from "@/app/_components/billing-forms";
import { ExternalLink } from "@/app/_components/calls-table";
import { UpgradeForm } from "@/app/_components/upgrade-form";
import { withPageSession } from "@/lib/http/page-session";
import { microToUsd } from "@/lib/money/units";

export const metadata: Metadata = { title: "Billing · TDK gateway" };
export const dynamic = "force-dynamic";

const day = (iso: string) => iso.slice(0, 10);

export default withPageSession(async function BillingPage({ session, services }) {
  const overview = await services.billing.overview(session.account);
  const { currentPeriod } = overview;
  const free = overview.tier === "free";
  return (
    <>
      <h1>Billing</h1>
      <section aria-labelledby="plan-heading">
        <h2 id="plan-heading">Plan</h2>
        <p>
          Tier <strong data-testid="billing-tier">{overview.tier}</strong>
          {overview.subscriptionStatus && (
            <>
              {" "}
              · subscription <strong data-testid="subscription-status">{overview.subscriptionStatus.replace("_", " ")}</strong>
            </>
          )}
          .
        </p>
        {!services.billing.enabled ? (
          <p className="muted">This gateway runs without billing: nothing is ever charged.</p>
        ) : (
          <>
            <UpgradeForm tier={overview.tier} />
            <BillingPortalForm />
          </>
        )}
      </section>

      <section aria-labelledby="period-heading">
        <h2 id="period-heading">Current period</h2>
        {free ? (
          <p data-testid="current-period">
            The free tier is never billed: {currentPeriod.calls} calls since {day(currentPeriod.from)} came out of your free allowance.
          </p>
        ) : (
          <p data-testid="current-period">
            Since {day(currentPeriod.from)}: {currentPeriod.calls} billable calls,{" "}
            <strong>{microToUsd(currentPeriod.billableMicro)} USD</strong> to be billed on your next invoice (
            {microToUsd(currentPeriod.reportedMicro)} USD of it already reported to Stripe). Calls that failed after the agent was paid are
            never billed to you.
          </p>
        )}
        <p>
          <Link href="/usage">Every call, with filters and a CSV download</Link>
        </p>
      </section>

      <section aria-labelledby="invoices-heading">
        <h2 id="invoices-heading">Invoices</h2>
        {overview.invoices.length === 0 ? (
          <p>No invoices yet.</p>
        ) : (
          <table>
            <thead>
              <tr>
                <th scope="col">Period</th>
                <th scope="col">Calls</th>
                <th scope="col">Total (USD)</th>
                <th scope="col">Status</th>
                <th scope="col">Invoice</th>
              </tr>
            </thead>
            <tbody>
              {overview.invoices.map((invoice) => (
                <tr key={invoice.stripe_invoice_id ?? invoice.period_start} data-testid="invoice-row">
                  <td>
                    {day(invoice.period_start)} – {day(invoice.period_end)}
                  </td>
                  <td>{invoice.total_operations}</td>
                  <td>{microToUsd(invoice.total_cost_micro)}</td>
                  <td>{invoice.status.replace("_", " ")}</td>
                  <td>
                    {invoice.hosted_invoice_url ? (
                      <ExternalLink href={invoice.hosted_invoice_url} opens="Stripe's invoice page">
                        View on Stripe
                      </ExternalLink>
                    ) : (
                      "—"
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </>
  );
});
