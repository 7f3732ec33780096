import type { UsageView } from "@/lib/usage/schemas";
import { billingNote } from "@/lib/usage/usage";

/** A link that opens another site in a new tab, saying so to screen readers. */
export function ExternalLink({
  href,
  children,
  opens,
  className,
}: {
  href: string;
  children: React.ReactNode;
  opens: string;
  className?: string;
}) {
  return (
    <a className={className} href={href} rel="noreferrer" target="_blank">
      {children}
      <span className="visually-hidden"> (opens {opens})</span>
    </a>
  );
}

/**
 * Calls as the dashboard and the usage page list them: when, which key and agent, the outcome, the
 * cost at the developer's price, what is billed and why, and the payment on the chain.
 */
export function CallsTable({
  calls,
  keyNames,
  explorerUrl,
  rowTestId,
}: {
  calls: UsageView[];
  keyNames: Map<string, string>;
  explorerUrl: (signature: string) => string;
  rowTestId: string;
}) {
  return (
    <table>
      <thead>
        <tr>
          <th scope="col">Time (UTC)</th>
          <th scope="col">Key</th>
          <th scope="col">Agent</th>
          <th scope="col">Status</th>
          <th scope="col">Cost (USD)</th>
          <th scope="col">Billed (USD)</th>
          <th scope="col">Billing</th>
          <th scope="col">Transaction</th>
        </tr>
      </thead>
      <tbody>
        {calls.map((call) => (
          <tr key={call.id} data-testid={rowTestId} data-request-id={call.request_id} data-status={call.status} data-agent={call.agent_id}>
            <td>{call.created_at.replace("T", " ").slice(0, 19)}</td>
            <td>{keyNames.get(call.key_id) ?? call.key_id}</td>
            <td>{call.agent_name ?? call.agent_id}</td>
            <td>{call.status.replace("_", " ")}</td>
            <td>{call.developer_cost_usd}</td>
            <td>{call.billed_usd}</td>
            <td data-testid="billing-note">{billingNote(call)}</td>
            <td>
              {call.tx_signature ? (
                <ExternalLink className="mono" href={explorerUrl(call.tx_signature)} opens="the Solana Explorer">
                  {call.tx_signature.slice(0, 8)}…{call.tx_signature.slice(-6)}
                </ExternalLink>
              ) : (
                "—"
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
