import type { Metadata } from "next";
import Link from "next/link";
import { withOperator } from "@/lib/http/page-session";
import { resetBreakerAction } from "./actions";

export const metadata: Metadata = { title: "Operator console · TDK gateway", robots: { index: false } };
export const dynamic = "force-dynamic";

export default withOperator(async function AdminPage({ services }, { searchParams }: { searchParams: Promise<{ q?: string }> }) {
  const { q } = await searchParams;
  const query = typeof q === "string" ? q : "";
  const [matches, breakers, audit, differences] = await Promise.all([
    services.admin.search(query),
    services.admin.breakers(),
    services.admin.auditLog(null, 20),
    services.admin.differences(),
  ]);
  return (
    <>
      <h1>Operator console</h1>
      <form method="get" action="/admin" className="filters" aria-label="Search accounts">
        <label>
          Account (email, id or Stripe customer)
          <input name="q" defaultValue={query} maxLength={200} />
        </label>
        <button type="submit">Search</button>
      </form>
      <table>
        <thead>
          <tr>
            <th scope="col">Email</th>
            <th scope="col">Tier</th>
            <th scope="col">Suspended</th>
            <th scope="col">Created</th>
          </tr>
        </thead>
        <tbody>
          {matches.map((match) => (
            <tr key={match.id} data-testid="admin-match">
              <td>
                <Link href={`/admin/accounts/${match.id}`}>{match.email}</Link>
                {match.role === "admin" ? " (admin)" : ""}
                {match.deleted ? " (deleted)" : ""}
              </td>
              <td>{match.tier}</td>
              <td>{match.suspended_reason ?? "—"}</td>
              <td>{match.created_at.slice(0, 10)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <section aria-labelledby="breakers-heading">
        <h2 id="breakers-heading">Circuit breakers</h2>
        {breakers.length === 0 ? (
          <p>None open.</p>
        ) : (
          <ul>
            {breakers.map((breaker) => (
              <li key={breaker.agent_id}>
                <span className="mono">{breaker.agent_id}</span>: {breaker.trips} trips, open until {breaker.open_until ?? "—"}
                <form action={resetBreakerAction} className="inline">
                  <input type="hidden" name="agent_id" value={breaker.agent_id} />
                  <button type="submit" className="secondary">
                    Reset
                  </button>
                </form>
              </li>
            ))}
          </ul>
        )}
      </section>
      <section aria-labelledby="differences-heading">
        <h2 id="differences-heading">Reconciliation differences</h2>
        {differences.length === 0 ? (
          <p data-testid="no-differences">None open: the last reconcile runs found the chain, the books and Stripe in agreement.</p>
        ) : (
          <ul>
            {differences.map((difference) => (
              <li key={`${difference.kind}:${difference.id}`} data-testid="difference" data-kind={difference.kind}>
                <strong>{difference.kind.replaceAll("_", " ")}</strong> <span className="mono">{difference.id}</span>: {difference.detail}{" "}
                <span className="muted">(first seen {difference.first_seen_at.slice(0, 16).replace("T", " ")})</span>
              </li>
            ))}
          </ul>
        )}
      </section>
      <section aria-labelledby="audit-heading">
        <h2 id="audit-heading">Latest audit entries</h2>
        <ul>
          {audit.map((entry) => (
            <li key={entry.id}>
              {entry.at.replace("T", " ").slice(0, 19)} · {entry.action} · {entry.target_type} {entry.target_id} · {entry.actor}
            </li>
          ))}
        </ul>
      </section>
    </>
  );
});
