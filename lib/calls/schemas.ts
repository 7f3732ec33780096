import { z } from "zod";
import { tierSchema } from "@/lib/auth/schemas";
import { usdAmountSchema, usdStringSchema } from "@/lib/money/units";

export const callBodySchema = z
  .object({
    agent_id: z.string({ error: "agent_id is required" }).trim().min(1, "agent_id is required").max(128),
    input: z.record(z.string(), z.unknown(), { error: "input must be a JSON object" }),
    /** The most this call may cost you (developer price); a pricier agent is refused before anything is paid. */
    max_cost_usd: usdAmountSchema("max_cost_usd", 1_000_000_000_000n).optional(),
  })
  .strict();
export type CallBody = z.infer<typeof callBodySchema>;

/** Optional `Idempotency-Key` header: printable ASCII, 1–255 characters. */
export const idempotencyKeySchema = z.string().regex(/^[\x21-\x7e]{1,255}$/, "Idempotency-Key must be 1-255 printable ASCII characters");

/** A call's usage row: reserved (pending), then settled once. */
export const usageStatusSchema = z.enum(["pending", "succeeded", "failed", "agent_failed"]);

export const usageRowSchema = z.object({
  id: z.string().uuid(),
  request_id: z.string(),
  api_key_id: z.string().uuid(),
  account_id: z.string().uuid(),
  agent_id: z.string(),
  agent_name: z.string().nullable(),
  status: usageStatusSchema,
  agent_cost_micro: z.number().int(),
  markup_bps: z.number().int(),
  developer_cost_micro: z.number().int(),
  tier: tierSchema,
  payment_intent_id: z.string().nullable(),
  tx_signature: z.string().nullable(),
  recent_blockhash: z.string().nullable(),
  /** After this block height the signed payment can no longer land (null: recorded before this was kept). */
  last_valid_block_height: z.number().int().nullable(),
  receipt_id: z.string().nullable(),
  error: z.string().nullable(),
  idempotency_key: z.string().nullable(),
  request_hash: z.string().nullable(),
  /** The call's outcome (lib/calls/outcome.ts) once decided; an HTTP answer on rows settled before outcomes were stored. */
  response: z.record(z.string(), z.unknown()).nullable(),
  billing_status: z.enum(["unreported", "claimed", "reported", "not_billable", "flagged"]),
  created_at: z.string(),
  settled_at: z.string().nullable(),
});
export type UsageRow = z.infer<typeof usageRowSchema>;

/** What a successful paid call answers. */
export const callSuccessSchema = z.object({
  success: z.literal(true),
  output: z.unknown().describe("The agent's output"),
  usage: z.object({
    request_id: z.string(),
    agent_id: z.string(),
    agent_name: z.string(),
    agent_cost_usd: usdStringSchema,
    markup_pct: z.number(),
    developer_cost_usd: usdStringSchema,
    agent_cost_micro: z.number().int(),
    developer_cost_micro: z.number().int(),
    tier: tierSchema,
    tx_signature: z.string(),
    receipt_id: z.string().nullable(),
  }),
});
