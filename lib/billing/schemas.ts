import { z } from "zod";
import { paidTierSchema } from "@/lib/auth/schemas";

/** What the billing endpoints answer: where to send the browser, or the tier now billed. */
export const checkoutResponseSchema = z.union([
  z.object({ action: z.literal("checkout"), url: z.url().describe("Stripe Checkout: send the browser there") }),
  z.object({
    action: z.literal("updated"),
    tier: paidTierSchema.describe("The account's one subscription now bills this tier's price"),
  }),
]);
export const stripeUrlResponseSchema = z.object({ url: z.url().describe("A Stripe page: send the browser there") });
