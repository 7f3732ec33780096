import { defineConfig } from "vitest/config";
import path from "node:path";

/**
 * Three kinds of test (model: cal.com's vitest workspace), each a project (`vitest run --project unit`):
 *  - unit: pure functions and files, no database, chain or server (tests/unit);
 *  - integration: routes, services and SQL on real local parts — PGlite or PostgreSQL, the embedded
 *    ledger or the local cluster, the Stripe stand-in, Redis through the Upstash bridge;
 *  - browser: the built app in real Chromium (tests/browser).
 *
 * Tests whose subject is money on the chain run twice: on the embedded ledger, and on the
 * production `RpcLedger` against the local JSON-RPC cluster in its own process
 * (scripts/local-solana-rpc.ts). Everything else runs once, on the embedded ledger.
 */
const chainDependent = [
  "tests/solana/funding.test.ts",
  "tests/calls/pipeline.test.ts",
  "tests/api/call.test.ts",
  "tests/agents/signing-policy.test.ts",
  "tests/calls/marketplace-behaviour.test.ts",
  "tests/money/treasury-outflow.test.ts",
  "tests/money/unbilled-spend.test.ts",
  "tests/ops/treasury.test.ts",
  "tests/money/billing-safety.test.ts",
  "tests/api/keys.test.ts",
];

const logFile = path.resolve(__dirname, "test-results", "logs", "process-{pid}.ndjson");

export default defineConfig({
  resolve: { alias: { "@": path.resolve(__dirname) } },
  test: {
    environment: "node",
    // The browser test builds and starts the real app; bcrypt and the ledger are CPU-bound.
    testTimeout: 60_000,
    hookTimeout: 300_000,
    // Two cores: files run in parallel, two at a time.
    maxWorkers: 2,
    env: { NEXT_TELEMETRY_DISABLED: "1", TDK_LOG_FILE: logFile },
    // Every process logs to test-results/logs; the log-scan project, last, searches them for the secrets the tests created.
    globalSetup: ["tests/global-setup.ts"],
    // CI also writes a JSON report, from which .ci/run prints its "N passed, N failed" line.
    reporters: process.env.CI === "true" ? ["default", "json"] : ["default"],
    outputFile: process.env.CI === "true" ? { json: "test-results/vitest.json" } : undefined,
    projects: [
      { extends: true, test: { name: "unit", include: ["tests/unit/**/*.test.ts"] } },
      {
        extends: true,
        test: { name: "integration", include: ["tests/**/*.test.ts"], exclude: ["tests/unit/**", "tests/browser/**", "tests/log-scan/**"] },
      },
      { extends: true, test: { name: "browser", include: ["tests/browser/**/*.test.ts"] } },
      // Last, after every other project has finished: the secret scan of the whole run's logs.
      { extends: true, test: { name: "log-scan", include: ["tests/log-scan/**/*.test.ts"], sequence: { groupOrder: 1 } } },
      {
        extends: true,
        test: {
          name: "rpc-ledger",
          include: chainDependent,
          env: { NEXT_TELEMETRY_DISABLED: "1", TDK_LOG_FILE: logFile, TEST_LEDGER: "rpc" },
        },
      },
    ],
  },
});
