import { describe, expect, it } from "vitest";
import { formatUnits, lamportsToSol, microToUsd, parseUsdMicro } from "@/lib/money/units";
import { billingNote } from "@/lib/usage/usage";

describe("money as text (lib/money/units.ts)", () => {
  it("formats base units with all their decimals, negatives included, and reads dollars back exactly", () => {
    expect(microToUsd(0)).toBe("0.000000");
    expect(microToUsd(-500_000n)).toBe("-0.500000");
    expect(lamportsToSol(10_000_000n)).toBe("0.010000000");
    expect(formatUnits(123n, 2)).toBe("1.23");
    // Beyond 2^53: integers all the way.
    expect(microToUsd(9_007_199_254_740_993n)).toBe("9007199254.740993");
    expect(parseUsdMicro(microToUsd(1_234_567n))).toBe(1_234_567n);
    expect(parseUsdMicro("1e3")).toBeNull();
  });
});

describe("how a call's cost reaches the developer (lib/usage/usage.ts)", () => {
  it("labels free-tier calls as not billed and agent_failed ones as paid to the agent, not billed", () => {
    expect(billingNote({ status: "succeeded", tier: "paid" })).toBe("billed");
    expect(billingNote({ status: "succeeded", tier: "free" })).toBe("free tier: not billed");
    expect(billingNote({ status: "agent_failed", tier: "pro" })).toBe("paid to the agent, not billed to you");
    expect(billingNote({ status: "failed", tier: "paid" })).toBe("not paid, not billed");
    expect(billingNote({ status: "pending", tier: "paid" })).toBe("in flight");
  });
});
