import { z } from "zod";
import { tierSchema } from "@/lib/auth/schemas";
import { usageStatusSchema } from "@/lib/calls/schemas";
import { usdStringSchema } from "@/lib/money/units";

/** Usage as its API answers it: one call, a page of history with its summary. */

/** A range's summary — totals, by agent, by day, by day and agent — with these amounts in each entry. */
export function summarySchemaWith<A extends z.ZodRawShape>(amounts: A) {
  return z.object({
    ...amounts,
    succeeded: z.number().int(),
    failed: z.number().int(),
    agent_failed: z.number().int(),
    pending: z.number().int(),
    by_agent: z.array(z.object({ agent_id: z.string(), agent_name: z.string().nullable(), ...amounts })),
    by_day: z.array(z.object({ day: z.string(), ...amounts })),
    by_day_agent: z.array(z.object({ day: z.string(), agent_id: z.string(), agent_name: z.string().nullable(), ...amounts })),
  });
}

/** The amounts as the database sums them (integers); the API adds them as dollars. */
export const microAmounts = { calls: z.number().int(), agent_cost_micro: z.number().int(), developer_cost_micro: z.number().int() };

const amounts = {
  ...microAmounts,
  agent_cost_usd: usdStringSchema,
  developer_cost_usd: usdStringSchema,
};

export const usageViewSchema = z.object({
  id: z.string(),
  request_id: z.string(),
  key_id: z.string(),
  agent_id: z.string(),
  agent_name: z.string().nullable(),
  status: usageStatusSchema,
  agent_cost_usd: usdStringSchema,
  developer_cost_usd: usdStringSchema,
  billed_usd: usdStringSchema.describe(
    "What you are billed: the developer cost of a succeeded call on a paid tier; nothing for free-tier, failed or agent_failed calls",
  ),
  billed_micro: z.number().int(),
  markup_pct: z.number(),
  tier: tierSchema,
  tx_signature: z.string().nullable(),
  receipt_id: z.string().nullable(),
  error: z.string().nullable(),
  created_at: z.string(),
  settled_at: z.string().nullable(),
});
export type UsageView = z.infer<typeof usageViewSchema>;

export const callViewSchema = usageViewSchema.extend({
  output: z.unknown().describe("The agent's output once the call succeeded (its payment confirmed on the chain); null before"),
});
export type CallView = z.infer<typeof callViewSchema>;
export const callResponseSchema = z.object({ call: callViewSchema });

export const usageResponseSchema = z.object({
  from: z.string(),
  to: z.string(),
  usage: z.array(usageViewSchema),
  next_cursor: z.string().nullable(),
  summary: summarySchemaWith(amounts),
});
export type UsageSummaryView = z.infer<typeof usageResponseSchema>["summary"];
