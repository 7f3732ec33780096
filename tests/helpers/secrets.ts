import { appendFileSync, mkdirSync } from "node:fs";
import path from "node:path";

/**
 * Every secret the suite creates (API keys, session and reset tokens, master keys, Stripe and cron
 * secrets) is written down here, one per line per process; after the run the global teardown
 * (tests/global-setup.ts) scans every process's log for each of them.
 */
export const logsDir = path.resolve(__dirname, "..", "..", "test-results", "logs");

const seen = new Set<string>();

export function recordSecret(value: string | null | undefined): void {
  if (!value || value.length < 16 || seen.has(value)) return;
  seen.add(value);
  mkdirSync(logsDir, { recursive: true });
  appendFileSync(path.join(logsDir, `secrets-${process.pid}.txt`), `${value}\n`);
}

/** The secrets an API answer carries (a new key, a session token, the session cookie). */
export function recordSecretsOf(json: unknown, setCookie: string | null): void {
  if (json && typeof json === "object") {
    const body = json as Record<string, unknown>;
    for (const field of ["api_key", "session_token"]) if (typeof body[field] === "string") recordSecret(body[field] as string);
  }
  const cookie = setCookie ? /tdk_session=([^;]+)/.exec(setCookie)?.[1] : undefined;
  if (cookie) recordSecret(decodeURIComponent(cookie));
}
