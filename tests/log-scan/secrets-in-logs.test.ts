import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { logsDir } from "../helpers/secrets";

/**
 * Runs after every other project (vitest `sequence.groupOrder`): every log line any process of the
 * run wrote — the test workers and the gateways and local services they started — is searched for
 * every secret the tests created (API keys, session and reset tokens, master keys, Stripe and cron
 * secrets; tests/helpers/secrets.ts). A leak names the file and a few characters, never the secret.
 */
describe("the whole suite's logs", () => {
  it("hold none of the secrets the suite created", () => {
    const files = existsSync(logsDir) ? readdirSync(logsDir) : [];
    const secrets = new Set(
      files
        .filter((file) => file.startsWith("secrets-"))
        .flatMap((file) => readFileSync(path.join(logsDir, file), "utf8").split("\n"))
        .filter((line) => line.length >= 16),
    );
    const logs = files.filter((file) => file.endsWith(".ndjson"));
    let lines = 0;
    const leaks: string[] = [];
    for (const file of logs) {
      const text = readFileSync(path.join(logsDir, file), "utf8");
      lines += text.split("\n").length - 1;
      for (const secret of secrets) if (text.includes(secret)) leaks.push(`${file}: ${secret.slice(0, 6)}… (${secret.length} characters)`);
    }
    console.log(`secret scan: ${secrets.size} secrets searched in ${lines} log lines of ${logs.length} processes`);
    // The scan saw a run: secrets were recorded and lines were written.
    expect(secrets.size).toBeGreaterThan(0);
    expect(lines).toBeGreaterThan(0);
    expect(leaks).toEqual([]);
  });
});
