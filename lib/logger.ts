import path from "node:path";
import pino from "pino";

/**
 * The operator log: one JSON object per line (pino), at `LOG_LEVEL` (default info). Nothing secret
 * is passed in on purpose — callers log ids and codes — and two guards catch a mistake:
 *  - fields named like secrets (authorization, api_key, password, token, secret…) are redacted;
 *  - every message and string field is scrubbed of anything shaped like one of our secrets (API
 *    keys, session and reset tokens, wallet ciphertexts, Stripe keys, bearer headers).
 * `TDK_LOG_FILE` sends the lines to a file instead of stdout (`{pid}` is replaced): the test suite
 * keeps every process's log there and scans it for the secrets it created.
 */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

const SECRET_SHAPES: RegExp[] = [
  /\btk_(?:test|live)_[1-9A-HJ-NP-Za-km-z]{20,}/g, // API keys
  /\btds_[A-Za-z0-9_-]{20,}/g, // session tokens
  /\btdr_[A-Za-z0-9_-]{20,}/g, // password reset tokens
  /\btdkenc[.:][A-Za-z0-9+/=._:-]{16,}/g, // wallet secret ciphertexts
  /\b(?:sk|rk)_(?:test|live)_[A-Za-z0-9]{8,}/g, // Stripe secret keys
  /\bwhsec_[A-Za-z0-9_]{8,}/g, // Stripe webhook secrets
  /(Bearer\s+)[^\s"',]+/gi, // whatever a bearer header carries
];

/** A string with every secret-shaped part replaced by `[redacted]`. */
export function scrub(text: string): string {
  let out = text;
  for (const shape of SECRET_SHAPES)
    out = out.replace(shape, (_match, bearer?: string) => (typeof bearer === "string" ? `${bearer}[redacted]` : "[redacted]"));
  return out;
}

function scrubFields(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(fields)) out[name] = typeof value === "string" ? scrub(value) : value;
  return out;
}

const REDACTED_FIELDS = [
  "authorization",
  "cookie",
  "password",
  "new_password",
  "current_password",
  "api_key",
  "apiKey",
  "token",
  "session_token",
  "secret",
  "secret_encrypted",
  "secretKey",
  "master_key",
];

function destination(): pino.DestinationStream | undefined {
  const file = process.env.TDK_LOG_FILE;
  if (!file) return undefined;
  return pino.destination({ dest: path.resolve(file.replace("{pid}", String(process.pid))), sync: true, mkdir: true });
}

function createPino(): pino.Logger {
  return pino(
    {
      level: process.env.LOG_LEVEL ?? "info",
      base: { service: "tdk-gateway" },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: [...REDACTED_FIELDS, ...REDACTED_FIELDS.map((field) => `*.${field}`)], censor: "[redacted]" },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination(),
  );
}

// One logger per process, whatever the number of route bundles that load this module.
const holder = globalThis as { __tdkPino?: pino.Logger };

function processPino(): pino.Logger {
  holder.__tdkPino ??= createPino();
  return holder.__tdkPino;
}

/** The process's logger. */
export const logger: Logger = {
  debug: (message, fields) => processPino().debug(scrubFields(fields ?? {}), scrub(message)),
  info: (message, fields) => processPino().info(scrubFields(fields ?? {}), scrub(message)),
  warn: (message, fields) => processPino().warn(scrubFields(fields ?? {}), scrub(message)),
  error: (message, fields) => processPino().error(scrubFields(fields ?? {}), scrub(message)),
};

/** For domain functions that take a `log(line)` callback: the line at this level, its `[tdk] ` prefix dropped. */
export function logLine(level: "info" | "warn" | "error" = "warn"): (line: string) => void {
  return (line) => logger[level](line.replace(/^\[tdk\]\s*/, ""));
}
