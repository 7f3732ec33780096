import { NextResponse } from "next/server";
import type { UsageAnswer } from "@/lib/usage/usage";
import { json } from "./response";

/** Both usage endpoints' answer: JSON (already conformed to its schema), or CSV as a download. */
export function usageResponse(answer: UsageAnswer): NextResponse {
  if (answer.format === "json") return json(answer.body);
  return new NextResponse(answer.csv, {
    headers: {
      "content-type": "text/csv; charset=utf-8",
      "content-disposition": 'attachment; filename="usage.csv"',
      "cache-control": "no-store",
    },
  });
}
