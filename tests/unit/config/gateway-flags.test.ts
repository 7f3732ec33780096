import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { GATEWAY_NODE_FLAGS } from "@/scripts/gateway-flags";

const root = path.resolve(__dirname, "..", "..", "..");

/** The young generation's size once a process has allocated well past it: V8 grows it up to twice the semi-space limit. */
function youngGenerationMbUnderLoad(flags: readonly string[]): number {
  const script = `
    let kept = [];
    for (let round = 0; round < 20; round += 1) {
      const batch = [];
      for (let i = 0; i < 200000; i += 1) batch.push({ i, s: "x" + i });
      kept = batch;
    }
    const space = require("node:v8").getHeapSpaceStatistics().find((s) => s.space_name === "new_space");
    console.log(space.space_size / 1048576 + "," + kept.length);`;
  // Without NODE_OPTIONS: flags there would apply to both sides.
  const { NODE_OPTIONS: _ignored, ...env } = process.env;
  const run = spawnSync(process.execPath, [...flags, "-e", script], { encoding: "utf8", env });
  expect(run.status, run.stderr).toBe(0);
  return Number(run.stdout.trim().split(",")[0]);
}

describe("the gateway's Node flags (scripts/gateway-flags.ts)", () => {
  it("are the ones `npm start` runs next start with", () => {
    const pkg = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")) as { scripts: Record<string, string> };
    expect(pkg.scripts.start).toBe(`node ${GATEWAY_NODE_FLAGS.join(" ")} node_modules/next/dist/bin/next start`);
  });

  it("let V8's young generation grow to 2 × 64 MB, past where Node's default stops (2 × 16 MB on Node 20)", () => {
    expect(youngGenerationMbUnderLoad([])).toBeLessThan(128);
    expect(youngGenerationMbUnderLoad(GATEWAY_NODE_FLAGS)).toBe(128);
  });
});
