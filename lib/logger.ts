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

/**
 * Whether a text may hold one of the shapes: all of them in one scan, case-insensitive (so never
 * narrower than the shapes). Almost no logged text does, and it is then returned after this one scan
 * instead of seven.
 */
const MAYBE_SECRET = new RegExp(SECRET_SHAPES.map((shape) => shape.source).join("|"), "i");

/** A string with every secret-shaped part replaced by `[redacted]`. */
export function scrub(text: string): string {
  if (!MAYBE_SECRET.test(text)) return text;
  let out = text;
  for (const shape of SECRET_SHAPES)
    out = out.replace(shape, (_match, bearer?: string) => (typeof bearer === "string" ? `${bearer}[redacted]` : "[redacted]"));
  return out;
}

/** Fields whose value is never logged, whatever it looks like, at every level of the fields the logger looks into. */
const REDACTED_FIELDS = new Set([
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
]);

/**
 * How many levels of the fields are looked into (log fields are ids, codes and amounts, flat or one
 * level down). Values below that are logged as given, and a cycle ends there.
 */
const MAX_FIELD_DEPTH = 4;

/**
 * A field's value as it may be logged: strings scrubbed, and within plain objects and arrays the
 * fields named like secrets redacted. Copies, never changes, what the caller passed.
 */
function cleanValue(value: unknown, depth: number): unknown {
  if (typeof value === "string") return scrub(value);
  if (value === null || typeof value !== "object" || depth >= MAX_FIELD_DEPTH) return value;
  if (Array.isArray(value)) return value.map((item) => cleanValue(item, depth + 1));
  const prototype = Object.getPrototypeOf(value);
  // Dates, errors and other class instances keep their own JSON form.
  if (prototype !== Object.prototype && prototype !== null) return value;
  return cleanFields(value as Record<string, unknown>, depth + 1);
}

function cleanFields(fields: Record<string, unknown>, depth = 0): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name in fields) {
    if (!Object.hasOwn(fields, name)) continue;
    out[name] = REDACTED_FIELDS.has(name) ? "[redacted]" : cleanValue(fields[name], depth);
  }
  return out;
}

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
      // No pino `redact`: the fields are redacted while they are copied and scrubbed (cleanFields),
      // one walk instead of two. A paid call's request line took 40–50 µs with fast-redact's 26 paths
      // and seven scans a string, 7 µs this way (scratch micro-benchmark, 6 × 20,000 lines).
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
  debug: (message, fields) => processPino().debug(cleanFields(fields ?? {}), scrub(message)),
  info: (message, fields) => processPino().info(cleanFields(fields ?? {}), scrub(message)),
  warn: (message, fields) => processPino().warn(cleanFields(fields ?? {}), scrub(message)),
  error: (message, fields) => processPino().error(cleanFields(fields ?? {}), scrub(message)),
};

/** For domain functions that take a `log(line)` callback: the line at this level, its `[tdk] ` prefix dropped. */
export function logLine(level: "info" | "warn" | "error" = "warn"): (line: string) => void {
  return (line) => logger[level](line.replace(/^\[tdk\]\s*/, ""));
}
