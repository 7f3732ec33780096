import { z } from "zod";

/**
 * The shapes SQL functions answer with: `{ ok: true, ... }`, or `{ ok: false, code, ... }` for a
 * refusal the function decided (a limit, a missing row). Unions of these parse a function's jsonb.
 */
export function okResult<S extends z.ZodRawShape>(shape: S) {
  return z.object({ ok: z.literal(true) as z.ZodLiteral<true>, ...shape });
}

export function refusedResult<C extends string, S extends z.ZodRawShape = Record<never, never>>(code: C, shape?: S) {
  return z.object({ ok: z.literal(false) as z.ZodLiteral<false>, code: z.literal(code), ...(shape ?? ({} as S)) });
}
