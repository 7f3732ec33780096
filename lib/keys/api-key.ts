import { createHash, randomBytes } from "node:crypto";
import { toBase58 } from "@/lib/solana/base58";

/**
 * API key format: `tk_live_` / `tk_test_` + base58 of 32 random bytes (256 bits).
 * Stored: SHA-256 (hex) under a unique index, and a short display prefix. A key this random
 * needs no slow hash (nothing to brute-force); a fast one makes verification one indexed lookup.
 */
export type KeyMode = "live" | "test";

const KEY_PATTERN = /^tk_(live|test)_[1-9A-HJ-NP-Za-km-z]{40,48}$/;
const PREFIX_LENGTH = 12; // "tk_test_" + 4 characters: enough to tell keys apart, useless to guess one.

export interface GeneratedApiKey {
  apiKey: string;
  hash: string;
  prefix: string;
}

export function generateApiKey(mode: KeyMode): GeneratedApiKey {
  const apiKey = `tk_${mode}_${toBase58(randomBytes(32))}`;
  return { apiKey, hash: hashApiKey(apiKey), prefix: apiKey.slice(0, PREFIX_LENGTH) };
}

export function hashApiKey(apiKey: string): string {
  return createHash("sha256").update(apiKey, "utf8").digest("hex");
}

/** Shape check before any lookup: garbage never reaches the database. */
export function looksLikeApiKey(value: string): boolean {
  return KEY_PATTERN.test(value);
}
