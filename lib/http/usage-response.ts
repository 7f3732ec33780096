import { NextResponse } from "next/server";
import type { Database } from "@/lib/db";
import { ApiError, validationError } from "@/lib/http/errors";
import { json } from "@/lib/http/response";
import {
  decodeCursor,
  summaryView,
  usageCsv,
  usagePage,
  usageQuerySchema,
  usageRange,
  usageSummary,
  type UsageScope,
} from "@/lib/usage/usage";

/** The shared answer of both usage endpoints: a page with the range's summary, or CSV. */
export async function usageResponse(
  db: Database,
  searchParams: URLSearchParams,
  scopeFor: (keyId: string | undefined) => Promise<UsageScope>,
) {
  const parsed = usageQuerySchema.safeParse(Object.fromEntries(searchParams));
  if (!parsed.success) throw validationError(parsed.error);
  const query = parsed.data;
  const range = usageRange(query);
  if (range.from >= range.to)
    throw new ApiError("validation_failed", "`from` must be before `to`.", { fields: { from: ["must be before to"] } });
  const cursor = query.cursor ? decodeCursor(query.cursor) : null;
  if (query.cursor && !cursor) throw new ApiError("validation_failed", "Invalid cursor.", { fields: { cursor: ["invalid"] } });
  const scope = await scopeFor(query.key_id);

  if (query.format === "csv") {
    return new NextResponse(await usageCsv(db, scope, range), {
      headers: {
        "content-type": "text/csv; charset=utf-8",
        "content-disposition": 'attachment; filename="usage.csv"',
        "cache-control": "no-store",
      },
    });
  }
  const [page, summary] = await Promise.all([usagePage(db, scope, { limit: query.limit, range, cursor }), usageSummary(db, scope, range)]);
  return json({
    from: range.from.toISOString(),
    to: range.to.toISOString(),
    usage: page.items,
    next_cursor: page.nextCursor,
    summary: summaryView(summary),
  });
}
