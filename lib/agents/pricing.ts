/**
 * Developer price = agent price × (1 + markup), in integer micro-USD, rounded up: the gateway
 * never sells below cost. Markup in basis points (5,000 = 50%).
 */
export function developerCostMicro(agentCostMicro: bigint, markupBps: number): bigint {
  if (agentCostMicro < 0n) throw new RangeError("agent cost must not be negative");
  if (!Number.isInteger(markupBps) || markupBps < 0) throw new RangeError("markup must be a non-negative integer of basis points");
  const scaled = agentCostMicro * BigInt(10_000 + markupBps);
  return (scaled + 9_999n) / 10_000n;
}
