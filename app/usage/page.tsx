import type { Metadata } from "next";
import Link from "next/link";
import { ZodError } from "zod";
import { CallsTable } from "@/app/_components/calls-table";
import { ApiError, fieldErrors } from "@/lib/http/errors";
import { withPageSession } from "@/lib/http/page-session";
import { explorerTxUrl } from "@/lib/solana/explorer";

export const metadata: Metadata = { title: "Usage · TDK gateway" };
export const dynamic = "force-dynamic";

type Search = Record<string, string | string[] | undefined>;
const FILTERS = ["key_id", "agent_id", "status", "from", "to"] as const;
const STATUSES = ["succeeded", "agent_failed", "failed", "pending"] as const;

/** The page's filters as the usage endpoint's query (empty fields dropped), so the page and the CSV read the same rows. */
function filterQuery(search: Search): URLSearchParams {
  const query = new URLSearchParams();
  for (const name of FILTERS) {
    const value = search[name];
    if (typeof value === "string" && value.trim() !== "") query.set(name, value.trim());
  }
  return query;
}

export default withPageSession(async function UsagePage({ session, services }, { searchParams }: { searchParams: Promise<Search> }) {
  const search = await searchParams;
  const value = (name: (typeof FILTERS)[number]) => (typeof search[name] === "string" ? (search[name] as string) : "");
  const filters = filterQuery(search);
  const pageQuery = new URLSearchParams(filters);
  if (typeof search.cursor === "string") pageQuery.set("cursor", search.cursor);
  pageQuery.set("limit", "50");

  const keys = await services.keys.list(session.account.id, { fromChain: false });
  let error: string | null = null;
  let answer: Awaited<ReturnType<typeof services.usage.read>> | null = null;
  try {
    answer = await services.usage.read(pageQuery, (keyId) => services.usage.scopeForAccount(session.account.id, keyId));
  } catch (caught) {
    if (caught instanceof ZodError)
      error = `Check the filters: ${Object.entries(fieldErrors(caught))
        .map(([field, messages]) => `${field} ${messages.join(", ")}`)
        .join("; ")}.`;
    else if (caught instanceof ApiError) error = caught.message;
    else throw caught;
  }
  const body = answer?.format === "json" ? answer.body : null;
  const csvQuery = new URLSearchParams(filters);
  csvQuery.set("format", "csv");
  const nextQuery = new URLSearchParams(filters);
  if (body?.next_cursor) nextQuery.set("cursor", body.next_cursor);
  // The agents this account called in the range (and the one filtered on, even if it has no call).
  const agents = body?.summary.by_agent ?? [];
  if (value("agent_id") && !agents.some((agent) => agent.agent_id === value("agent_id")))
    agents.push({
      agent_id: value("agent_id"),
      agent_name: null,
      calls: 0,
      agent_cost_micro: 0,
      developer_cost_micro: 0,
      agent_cost_usd: "0.000000",
      developer_cost_usd: "0.000000",
    });
  const keyNames = new Map(keys.map((key) => [key.id, `${key.name} (${key.prefix}…)`]));

  return (
    <>
      <h1>Usage</h1>
      <form method="get" action="/usage" className="filters" aria-label="Filter the calls">
        <label>
          Key
          <select name="key_id" defaultValue={value("key_id")}>
            <option value="">All keys</option>
            {keys.map((key) => (
              <option key={key.id} value={key.id}>
                {key.name} ({key.prefix}…){key.status === "revoked" ? " — revoked" : ""}
              </option>
            ))}
          </select>
        </label>
        <label>
          Agent
          <select name="agent_id" defaultValue={value("agent_id")}>
            <option value="">All agents</option>
            {agents.map((agent) => (
              <option key={agent.agent_id} value={agent.agent_id}>
                {agent.agent_name ?? agent.agent_id}
              </option>
            ))}
          </select>
        </label>
        <label>
          Status
          <select name="status" defaultValue={value("status")}>
            <option value="">Any status</option>
            {STATUSES.map((status) => (
              <option key={status} value={status}>
                {status.replace("_", " ")}
              </option>
            ))}
          </select>
        </label>
        <label>
          From (UTC)
          <input type="date" name="from" defaultValue={value("from")} />
        </label>
        <label>
          To (UTC, included)
          <input type="date" name="to" defaultValue={value("to")} />
        </label>
        <button type="submit">Filter</button> <Link href="/usage">Clear</Link>
      </form>
      <p>
        <a href={`/api/tdk/usage?${csvQuery}`} download="usage.csv" data-testid="csv-download">
          Download these calls as CSV
        </a>{" "}
        <span className="muted">(every page, not only this one)</span>
      </p>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {body && (
        <>
          <p className="muted" data-testid="usage-range">
            {body.from.slice(0, 10)} to {body.to.slice(0, 10)} · over the range and key: {body.summary.calls} calls,{" "}
            {body.summary.developer_cost_usd} USD at your price. Free-tier calls are never billed; calls that failed after the agent was
            paid are paid by the gateway, not billed to you.
          </p>
          {body.usage.length === 0 ? (
            <p data-testid="no-calls">No calls match.</p>
          ) : (
            <CallsTable
              calls={body.usage}
              keyNames={keyNames}
              explorerUrl={(signature) => explorerTxUrl(services.app.env, signature)}
              rowTestId="usage-row"
            />
          )}
          {body.next_cursor && (
            <p>
              <Link href={`/usage?${nextQuery}`} data-testid="next-page">
                Older calls →
              </Link>
            </p>
          )}
        </>
      )}
    </>
  );
});
