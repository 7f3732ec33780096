import { z } from "zod";
import { microToUsd } from "@/lib/money/units";
import { readStoredOutcome } from "@/lib/calls/outcome";
import { type UsageRow, usageStatusSchema } from "@/lib/calls/schemas";
import { type UsageFilters, type UsageScope, type UsageSummary, usageHistory, usageSummaryOf } from "@/lib/calls/usage-store";
import type { Database } from "@/lib/db";
import { ApiError, conform } from "@/lib/errors";
import { usageResponseSchema, type CallView, type UsageView } from "./schemas";

export type { CallView, UsageView } from "./schemas";

/** Usage history and summaries, for one key (Bearer API key) or a whole account (session). */

export const usageQuerySchema = z
  .object({
    limit: z.coerce.number().int().min(1).max(200).default(50),
    cursor: z.string().max(200).optional(),
    from: z.iso.datetime({ offset: true }).or(z.iso.date()).optional(),
    to: z.iso.datetime({ offset: true }).or(z.iso.date()).optional(),
    format: z.enum(["json", "csv"]).default("json"),
    key_id: z.string().uuid().optional(),
    agent_id: z.string().min(1).max(128).optional(),
    status: usageStatusSchema.optional(),
  })
  .strict();
export type UsageQuery = z.infer<typeof usageQuerySchema>;

export function toUsageView(row: UsageRow): UsageView {
  // Billed: a succeeded call on a paid tier. Free-tier usage is never billed; an agent_failed call
  // was paid to the agent by the gateway and is not billed to the developer.
  const billed = row.status === "succeeded" && row.tier !== "free" ? row.developer_cost_micro : 0;
  return {
    id: row.id,
    request_id: row.request_id,
    key_id: row.api_key_id,
    agent_id: row.agent_id,
    agent_name: row.agent_name,
    status: row.status,
    agent_cost_usd: microToUsd(row.agent_cost_micro),
    developer_cost_usd: microToUsd(row.developer_cost_micro),
    billed_usd: microToUsd(billed),
    billed_micro: billed,
    markup_pct: row.markup_bps / 100,
    tier: row.tier,
    tx_signature: row.tx_signature,
    receipt_id: row.receipt_id,
    error: row.error,
    created_at: row.created_at,
    settled_at: row.settled_at,
  };
}

/** One call as its caller reads it back: a slow call's output stays readable after the request that started it. */
export function toCallView(row: UsageRow): CallView {
  const stored = row.status === "succeeded" && row.response ? readStoredOutcome(row.response) : null;
  const output =
    stored?.kind === "outcome" && stored.outcome.kind === "succeeded"
      ? stored.outcome.output
      : stored?.kind === "legacy"
        ? ((stored.answer.body as { output?: unknown }).output ?? null)
        : null;
  return { ...toUsageView(row), output: output ?? null };
}

export type { UsageScope, UsageSummary } from "@/lib/calls/usage-store";

/** The [from, to) range of a query: the last 30 days by default; a bare date `to` includes that day. */
export function usageRange(query: Pick<UsageQuery, "from" | "to">, now = new Date()): { from: Date; to: Date } {
  const to = query.to ? new Date(query.to.length === 10 ? Date.parse(query.to) + 86_400_000 : query.to) : new Date(now.getTime() + 1);
  const from = query.from ? new Date(query.from) : new Date(to.getTime() - 30 * 86_400_000);
  return { from, to };
}

function encodeCursor(row: UsageRow): string {
  return Buffer.from(`${row.created_at}|${row.id}`, "utf8").toString("base64url");
}

export function decodeCursor(cursor: string): { time: string; id: string } | null {
  const [time, id] = Buffer.from(cursor, "base64url").toString("utf8").split("|");
  if (!time || !id || Number.isNaN(Date.parse(time)) || !z.string().uuid().safeParse(id).success) return null;
  return { time, id };
}

/** One page of the range, newest first, with the cursor of the next page (null at the end). */
export async function usagePage(
  db: Database,
  scope: UsageScope,
  options: { limit: number; range: { from: Date; to: Date }; cursor?: { time: string; id: string } | null; filters?: UsageFilters },
) {
  // Without a cursor the page starts at the range's end; (time, id) keyset order makes pages stable.
  const start = options.cursor ?? { time: options.range.to.toISOString(), id: "ffffffff-ffff-4fff-bfff-ffffffffffff" };
  const rows = await usageHistory(db, scope, start, options.limit + 1, options.filters);
  const inRange = rows.filter((row) => Date.parse(row.created_at) >= options.range.from.getTime());
  const page = inRange.slice(0, options.limit);
  return { items: page.map(toUsageView), nextCursor: inRange.length > options.limit ? encodeCursor(page.at(-1)!) : null };
}

export function usageSummary(db: Database, scope: UsageScope, range: { from: Date; to: Date }): Promise<UsageSummary> {
  return usageSummaryOf(db, scope, range);
}

export function summaryView(summary: UsageSummary) {
  const money = <T extends { agent_cost_micro: number; developer_cost_micro: number }>(entry: T) => ({
    ...entry,
    agent_cost_usd: microToUsd(entry.agent_cost_micro),
    developer_cost_usd: microToUsd(entry.developer_cost_micro),
  });
  return {
    ...money(summary),
    by_agent: summary.by_agent.map(money),
    by_day: summary.by_day.map(money),
    by_day_agent: summary.by_day_agent.map(money),
  };
}

const CSV_COLUMNS = [
  "created_at",
  "request_id",
  "key_id",
  "agent_id",
  "agent_name",
  "status",
  "agent_cost_usd",
  "developer_cost_usd",
  "billed_usd",
  "tier",
  "tx_signature",
  "receipt_id",
] as const;

function csvCell(value: unknown): string {
  const text = value === null || value === undefined ? "" : String(value);
  // Quote when needed; neutralise spreadsheet formulas (a cell starting with = + - @).
  const safe = /^[=+\-@]/.test(text) ? `'${text}` : text;
  return /[",\n\r]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

/** Every row of the range as CSV, newest first, read page by page. */
export async function usageCsv(
  db: Database,
  scope: UsageScope,
  range: { from: Date; to: Date },
  filters: UsageFilters = {},
): Promise<string> {
  const lines = [CSV_COLUMNS.join(",")];
  let cursor: { time: string; id: string } | null = null;
  do {
    const page: Awaited<ReturnType<typeof usagePage>> = await usagePage(db, scope, { limit: 200, range, cursor, filters });
    for (const item of page.items) lines.push(CSV_COLUMNS.map((column) => csvCell(item[column])).join(","));
    cursor = page.nextCursor ? decodeCursor(page.nextCursor) : null;
  } while (cursor);
  return `${lines.join("\r\n")}\r\n`;
}

/** A usage request: a page of history with the range's summary, or every row of the range as CSV. */
export type UsageAnswer = { format: "csv"; csv: string } | { format: "json"; body: z.infer<typeof usageResponseSchema> };

/**
 * Both usage endpoints' reading, from their query string: the query is checked before the scope is
 * (a session caller's `key_id` must be one of its own keys: `scopeFor` throws not_found otherwise).
 */
export async function readUsage(
  db: Database,
  searchParams: URLSearchParams,
  scopeFor: (keyId: string | undefined) => Promise<UsageScope>,
): Promise<UsageAnswer> {
  const query = usageQuerySchema.parse(Object.fromEntries(searchParams));
  const range = usageRange(query);
  if (range.from >= range.to)
    throw new ApiError("validation_failed", "`from` must be before `to`.", { fields: { from: ["must be before to"] } });
  const cursor = query.cursor ? decodeCursor(query.cursor) : null;
  if (query.cursor && !cursor) throw new ApiError("validation_failed", "Invalid cursor.", { fields: { cursor: ["invalid"] } });
  const scope = await scopeFor(query.key_id);
  const filters = { agentId: query.agent_id ?? null, status: query.status ?? null };
  if (query.format === "csv") return { format: "csv", csv: await usageCsv(db, scope, range, filters) };
  // The summary is the range's (and key's) whole: the agent and status filters narrow the history.
  const [page, summary] = await Promise.all([
    usagePage(db, scope, { limit: query.limit, range, cursor, filters }),
    usageSummary(db, scope, range),
  ]);
  return {
    format: "json",
    body: conform(usageResponseSchema, {
      from: range.from.toISOString(),
      to: range.to.toISOString(),
      usage: page.items,
      next_cursor: page.nextCursor,
      summary: summaryView(summary),
    }),
  };
}

/** How a call's cost reaches the developer, in words for the pages (the API's billed_usd says the same in numbers). */
export function billingNote(call: Pick<UsageView, "status" | "tier">): string {
  if (call.status === "pending") return "in flight";
  if (call.status === "failed") return "not paid, not billed";
  if (call.status === "agent_failed") return "paid to the agent, not billed to you";
  return call.tier === "free" ? "free tier: not billed" : "billed";
}
