import { z } from "zod";
import { accountSchema } from "@/lib/auth/schemas";
import { errorStatus } from "./error-codes";

/** Response shapes of the public API, as zod schemas: the routes answer them, the document shows them. */

const money = z
  .string()
  .regex(/^\d+\.\d{6}$/)
  .describe("US dollars with 6 decimals (exact micro-USD)");

export const errorBodySchema = z
  .object({
    error: z
      .object({
        code: z.enum(Object.keys(errorStatus) as [keyof typeof errorStatus, ...(keyof typeof errorStatus)[]]),
        message: z.string(),
        request_id: z.string(),
        fields: z.record(z.string(), z.array(z.string())).optional().describe("Validation errors by field"),
      })
      .catchall(z.unknown()),
  })
  .describe("Every error answer");

export const accountResponseSchema = z.object({ account: accountSchema });

export const sessionResponseSchema = z.object({ session_token: z.string(), expires_at: z.iso.datetime() });

export const keyViewSchema = z.object({
  id: z.string().uuid(),
  name: z.string(),
  prefix: z.string().describe("The key's first characters, to recognise it"),
  mode: z.enum(["live", "test"]),
  tier: z.enum(["free", "paid", "pro"]),
  status: z.enum(["active", "suspended", "revoked"]),
  suspended_reason: z.string().nullable(),
  wallet: z.object({
    public_key: z.string().describe("The key's dedicated Solana wallet"),
    usdc: z.string(),
    sol: z.string(),
    usdc_micro: z.number().int(),
    sol_lamports: z.number().int(),
    balances_at: z.string().nullable(),
  }),
  spend_limit: z
    .object({
      usd: money,
      period: z.enum(["day", "week", "month", "total"]).describe("UTC calendar day, week (from Monday) or month; or the key's lifetime"),
      spent_usd: money.describe("Spent in the current period, at your price (calls in flight included)"),
      remaining_usd: money,
      resets_at: z.string().nullable().describe("When the period's spend starts again from zero (null for total)"),
    })
    .nullable()
    .describe("Your own bound on what the key may cost; null when none is set"),
  created_at: z.string(),
  last_used_at: z.string().nullable(),
  revoked_at: z.string().nullable(),
});

export const createdKeyResponseSchema = z.object({
  api_key: z.string().describe("The full key: shown only in this answer"),
  key: keyViewSchema,
  funding: z
    .union([
      z.object({
        status: z.enum(["pending", "confirmed", "failed"]),
        tx_signature: z.string().nullable(),
        usdc: z.string(),
        sol: z.string(),
      }),
      z.object({
        status: z.literal("not_funded"),
        reason: z.string().describe("Why nothing was sent yet: card_required, account_cap_reached, ..."),
      }),
    ])
    .nullable()
    .describe("The wallet's first funding from the treasury, as far as the caps allow"),
});
export const keyListResponseSchema = z.object({ keys: z.array(keyViewSchema) });
export const keyResponseSchema = z.object({ key: keyViewSchema });
export const logoutResponseSchema = z.object({ revoked: z.boolean() });

export const callSuccessSchema = z.object({
  success: z.literal(true),
  output: z.unknown().describe("The agent's output"),
  usage: z.object({
    request_id: z.string(),
    agent_id: z.string(),
    agent_name: z.string(),
    agent_cost_usd: money,
    markup_pct: z.number(),
    developer_cost_usd: money,
    agent_cost_micro: z.number().int(),
    developer_cost_micro: z.number().int(),
    tier: z.enum(["free", "paid", "pro"]),
    tx_signature: z.string(),
    receipt_id: z.string().nullable(),
  }),
});

export const agentCatalogSchema = z.object({
  markup_pct: z.number(),
  max_agent_price_usd: money.describe("Agents priced above this are never paid"),
  agents: z.array(
    z.object({
      id: z.string(),
      name: z.string(),
      description: z.string(),
      token: z.string().describe("The token the marketplace prices the agent in: only USDC-priced agents are callable here"),
      agent_type: z.string().describe("simple (runs up to 20 s), complex (120 s) or coordinator (180 s)"),
      agent_cost_usd: money.nullable().describe("Null when the agent is not priced in USDC"),
      developer_price_usd: money.nullable(),
      developer_price_micro: z.number().int().nullable(),
      callable: z.boolean().describe("Whether this gateway calls the agent now"),
      not_callable_reason: z.enum(["not_priced_in_usdc", "price_above_maximum", "circuit_open"]).nullable(),
      available_at: z.string().nullable().describe("While the agent is paused for failing after payment: when it is called again"),
      input_schema: z.unknown(),
      output_schema: z.unknown(),
    }),
  ),
});

const amounts = {
  calls: z.number().int(),
  agent_cost_micro: z.number().int(),
  developer_cost_micro: z.number().int(),
  agent_cost_usd: money,
  developer_cost_usd: money,
};
const usageItemSchema = z.object({
  id: z.string(),
  request_id: z.string(),
  key_id: z.string(),
  agent_id: z.string(),
  agent_name: z.string().nullable(),
  status: z.enum(["pending", "succeeded", "failed", "agent_failed"]),
  agent_cost_usd: money,
  developer_cost_usd: money,
  billed_usd: money,
  billed_micro: z.number().int(),
  markup_pct: z.number(),
  tier: z.enum(["free", "paid", "pro"]),
  tx_signature: z.string().nullable(),
  receipt_id: z.string().nullable(),
  error: z.string().nullable(),
  created_at: z.string(),
  settled_at: z.string().nullable(),
});

export const callResponseSchema = z.object({
  call: usageItemSchema.extend({
    output: z.unknown().describe("The agent's output once the call succeeded (its payment confirmed on the chain); null before"),
  }),
});

export const usageResponseSchema = z.object({
  from: z.string(),
  to: z.string(),
  usage: z.array(usageItemSchema),
  next_cursor: z.string().nullable(),
  summary: z.object({
    ...amounts,
    succeeded: z.number().int(),
    failed: z.number().int(),
    agent_failed: z.number().int(),
    pending: z.number().int(),
    by_agent: z.array(z.object({ agent_id: z.string(), agent_name: z.string().nullable(), ...amounts })),
    by_day: z.array(z.object({ day: z.string(), ...amounts })),
    by_day_agent: z.array(z.object({ day: z.string(), agent_id: z.string(), agent_name: z.string().nullable(), ...amounts })),
  }),
});

export const checkoutResponseSchema = z.union([
  z.object({ action: z.literal("checkout"), url: z.url().describe("Stripe Checkout: send the browser there") }),
  z.object({
    action: z.literal("updated"),
    tier: z.enum(["paid", "pro"]).describe("The account's one subscription now bills this tier's price"),
  }),
]);
export const stripeUrlResponseSchema = z.object({ url: z.url().describe("A Stripe page: send the browser there") });
export const liveResponseSchema = z.object({ status: z.literal("ok") });
export const healthResponseSchema = z.object({ status: z.enum(["ok", "warning", "degraded"]) }).catchall(z.unknown());
