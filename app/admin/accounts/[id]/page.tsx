import type { Metadata } from "next";
import Link from "next/link";
import { notFound } from "next/navigation";
import { z } from "zod";
import { WalletsTable } from "@/app/_components/wallets-table";
import { withOperator } from "@/lib/http/page-session";
import { toKeyView } from "@/lib/keys/keys";
import { microToUsd } from "@/lib/money/units";
import { liftSuspensionAction, resolveFlaggedAction, setOverridesAction, setTierAction, suspendAccountAction } from "../../actions";

export const metadata: Metadata = { title: "Account · Operator console · TDK gateway", robots: { index: false } };
export const dynamic = "force-dynamic";

export default withOperator(async function AdminAccountPage(
  { services },
  { params, searchParams }: { params: Promise<{ id: string }>; searchParams: Promise<{ done?: string }> },
) {
  const id = z
    .string()
    .uuid()
    .safeParse((await params).id);
  if (!id.success) notFound();
  const [detail, audit, usage] = await Promise.all([
    services.admin.account(id.data),
    services.admin.auditLog(id.data, 50),
    services.usage.summary({ accountId: id.data, keyId: null }, { from: new Date(Date.now() - 30 * 86_400_000), to: new Date() }),
  ]);
  if (!detail) notFound();
  const { account } = detail;
  const { done } = await searchParams;
  return (
    <>
      <p>
        <Link href="/admin">← Operator console</Link>
      </p>
      <h1>{account.email}</h1>
      {done && (
        <p className="notice" role="status" data-testid="admin-done">
          Done: {done.replaceAll("_", " ")}.
        </p>
      )}
      <p>
        <span className="mono">{account.id}</span> · tier <strong data-testid="admin-tier">{account.tier}</strong> · role {account.role} ·{" "}
        {detail.deleted_at ? `deleted ${detail.deleted_at}` : "active"}
      </p>
      <p data-testid="admin-suspension">
        {account.suspended_reason ? `Suspended (${account.suspended_reason}) since ${detail.suspended_at}` : "Not suspended"}
      </p>
      <p>
        Stripe: customer {detail.stripe_customer_id ?? "—"}, subscription {detail.stripe_subscription_id ?? "—"} (
        {detail.subscription_status ?? "none"}) · flagged usage: {detail.flagged_calls} calls, {microToUsd(detail.flagged_micro)} USD
      </p>

      <section aria-labelledby="actions-heading">
        <h2 id="actions-heading">Actions</h2>
        {account.suspended_reason ? (
          <form action={liftSuspensionAction} className="inline">
            <input type="hidden" name="account_id" value={account.id} />
            <button type="submit">Lift the suspension</button>
          </form>
        ) : (
          <form action={suspendAccountAction} className="inline">
            <input type="hidden" name="account_id" value={account.id} />
            <label>
              Reason
              <input name="reason" defaultValue="operator" maxLength={64} />
            </label>
            <button type="submit" className="danger">
              Suspend
            </button>
          </form>
        )}
        <form action={setTierAction} className="inline">
          <input type="hidden" name="account_id" value={account.id} />
          <label>
            Tier
            <select name="tier" defaultValue={account.tier}>
              <option value="free">free</option>
              <option value="paid">paid</option>
              <option value="pro">pro</option>
            </select>
          </label>
          <button type="submit" className="secondary">
            Set tier
          </button>
        </form>
        <form action={setOverridesAction} className="inline" aria-label="Limits of this account">
          <input type="hidden" name="account_id" value={account.id} />
          <label>
            Monthly free calls
            <input name="quota" inputMode="numeric" defaultValue={detail.overrides.free_monthly_quota ?? ""} placeholder="default" />
          </label>
          <label>
            Free allowance (USD)
            <input
              name="free_allowance_usd"
              defaultValue={detail.overrides.free_allowance_micro ? microToUsd(BigInt(detail.overrides.free_allowance_micro)) : ""}
              placeholder="default"
            />
          </label>
          <label>
            Failed-after-payment cap a day (USD)
            <input
              name="agent_failed_cap_usd"
              defaultValue={
                detail.overrides.agent_failed_daily_cap_micro ? microToUsd(BigInt(detail.overrides.agent_failed_daily_cap_micro)) : ""
              }
              placeholder="default"
            />
          </label>
          <button type="submit" className="secondary">
            Set limits
          </button>
        </form>
        {detail.flagged_calls > 0 && (
          <form action={resolveFlaggedAction} className="inline">
            <input type="hidden" name="account_id" value={account.id} />
            <label>
              Flagged usage
              <select name="resolution" defaultValue="retry">
                <option value="retry">report it again</option>
                <option value="write_off">write it off</option>
              </select>
            </label>
            <button type="submit" className="secondary">
              Resolve
            </button>
          </form>
        )}
      </section>

      <section aria-labelledby="keys-heading">
        <h2 id="keys-heading">Keys and wallets</h2>
        <WalletsTable keys={detail.keys.map(toKeyView)} rowTestId="admin-key" />
        <p>
          Last 30 days: {usage.calls} calls, {microToUsd(usage.developer_cost_micro)} USD at the developer price,{" "}
          {microToUsd(usage.agent_cost_micro)} USD paid to agents.
        </p>
      </section>

      <section aria-labelledby="fundings-heading">
        <h2 id="fundings-heading">Fundings (last 20)</h2>
        <ul>
          {detail.fundings.map((funding) => (
            <li key={funding.id}>
              {funding.created_at.slice(0, 19).replace("T", " ")} · {funding.reason} · {funding.status} · {microToUsd(funding.usdc_micro)}{" "}
              USDC
            </li>
          ))}
        </ul>
      </section>

      <section aria-labelledby="audit-heading">
        <h2 id="audit-heading">Audit log</h2>
        <table>
          <tbody>
            {audit.map((entry) => (
              <tr key={entry.id} data-testid="admin-audit" data-action={entry.action} data-actor={entry.actor}>
                <td>{entry.at.replace("T", " ").slice(0, 19)}</td>
                <td>{entry.action}</td>
                <td className="mono">
                  {entry.target_type} {entry.target_id}
                </td>
                <td>{entry.actor}</td>
                <td className="mono">
                  {JSON.stringify(entry.before)} → {JSON.stringify(entry.after)}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    </>
  );
});
