import { z } from "zod";

/**
 * Money as integers, and as text. Dollars are integer micro-USD (USDC has 6 decimals, so one
 * micro-USD is one USDC base unit); SOL is integer lamports (9 decimals). Nothing here uses floats.
 */

export const USDC_DECIMALS = 6;
export const SOL_DECIMALS = 9;

/** An integer amount of base units as a decimal string with all its decimals ("5.000000", "-0.010000000"). */
export function formatUnits(amount: bigint | number, decimals: number): string {
  const value = BigInt(amount);
  const negative = value < 0n;
  const abs = negative ? -value : value;
  const scale = 10n ** BigInt(decimals);
  const whole = abs / scale;
  const fraction = (abs % scale).toString().padStart(decimals, "0");
  return `${negative ? "-" : ""}${whole}.${fraction}`;
}

/** A dollar amount as the API writes it: 6 decimals, exact micro-USD. */
export const usdStringSchema = z
  .string()
  .regex(/^-?\d+\.\d{6}$/)
  .describe("US dollars with 6 decimals (exact micro-USD)");

/** Micro-USD as dollars with 6 decimals, the API's `*_usd` fields ("0.015000"). */
export function microToUsd(micro: bigint | number): string {
  return formatUnits(micro, USDC_DECIMALS);
}

/** Lamports as SOL with 9 decimals. */
export function lamportsToSol(lamports: bigint | number): string {
  return formatUnits(lamports, SOL_DECIMALS);
}

/**
 * Dollar amounts as people and programs write them ("5", "5.00", 0.25), read exactly into integer
 * micro-USD: at most 6 decimals, no exponent, no float arithmetic anywhere.
 */
const USD_PATTERN = /^(\d{1,9})(?:\.(\d{1,6}))?$/;

export function parseUsdMicro(value: string): bigint | null {
  const match = USD_PATTERN.exec(value.trim());
  if (!match) return null;
  return BigInt(match[1]!) * 1_000_000n + BigInt((match[2] ?? "").padEnd(6, "0"));
}

/** A positive dollar amount up to `maxMicro`, as a decimal string or a JSON number; parsed to micro-USD. */
export function usdAmountSchema(label: string, maxMicro: bigint) {
  return z.union([z.string(), z.number()], { error: `${label} must be a dollar amount such as "5.00"` }).transform((value, context) => {
    // A JSON number is read from its shortest decimal form; 1e-7 or 1e21 are refused, not rounded.
    const micro = parseUsdMicro(typeof value === "number" ? String(value) : value);
    if (micro === null) {
      context.addIssue({ code: "custom", message: `${label} must be a dollar amount with at most 6 decimals, such as "5.00"` });
      return z.NEVER;
    }
    if (micro <= 0n || micro > maxMicro) {
      context.addIssue({
        code: "custom",
        message: `${label} must be more than 0 and at most ${Number(maxMicro / 1_000_000n).toLocaleString("en-US")} USD`,
      });
      return z.NEVER;
    }
    return micro;
  });
}
