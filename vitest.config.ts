import { defineConfig } from "vitest/config";
import path from "node:path";

export default defineConfig({
  resolve: { alias: { "@": path.resolve(__dirname) } },
  test: {
    environment: "node",
    include: ["tests/**/*.test.ts"],
    // The browser test builds and starts the real app; bcrypt and the ledger are CPU-bound.
    testTimeout: 60_000,
    hookTimeout: 300_000,
    // Two cores: files run in parallel, two at a time.
    maxWorkers: 2,
    env: { NEXT_TELEMETRY_DISABLED: "1" },
    // CI also writes a JSON report, from which .ci/run prints its "N passed, N failed" line.
    reporters: process.env.CI === "true" ? ["default", "json"] : ["default"],
    outputFile: process.env.CI === "true" ? { json: "test-results/vitest.json" } : undefined,
  },
});
