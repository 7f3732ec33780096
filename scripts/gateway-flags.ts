/**
 * The Node flags every `next start` of the gateway runs with: `npm start` (package.json, the same
 * flags written out, a unit test keeps the two equal) and the cluster, the bench and
 * compare-builds.ts (`startGateway` in scripts/cluster.ts; flags given after these win).
 *
 * `--max-semi-space-size=64`: V8's young generation may grow to 2 × 64 MB instead of 2 × 16 MB.
 * Why it should help: a scavenge copies what is still alive, and with 16 paid calls in flight,
 * much of what they allocated is still alive when a small young generation fills; a larger one is
 * scavenged less often (the reason to try it; scavenge counts were not measured). Measured (issue 11) with one build twice, the default given back to one side
 * (`COMPARE_NODE_ARGS_A=--max-semi-space-size=16 npx tsx scripts/bench/compare-builds.ts
 * .next-cluster .next-cluster <route> 16 <n>`), medians of 16 alternated blocks:
 *   paid (1,500 calls a block): request thread 2.447 → 2.353 ms a call (the default cost more in
 *     12 of 16 blocks), whole server 4.353 → 4.260 ms (10 of 16);
 *   /api/health/live (3,000 a block): request thread 0.913 → 0.897 ms (13 of 16), server 1.037 →
 *     1.013 ms (11 of 16).
 * It makes both routes cheaper, the paid call by more. The cost is memory: up to 96 MB more young
 * generation while busy.
 */
export const GATEWAY_NODE_FLAGS = ["--max-semi-space-size=64"] as const;
