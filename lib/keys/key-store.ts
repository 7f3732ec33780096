import { z } from "zod";
import { callFunction, type Database } from "@/lib/db";
import { okResult, refusedResult } from "@/lib/db/results";
import { keyRowSchema, verifiedKeySchema, type KeyRow, type SpendPeriod, type VerifiedKey } from "./schemas";

/** The API keys' SQL functions, typed. Only the key's hash and the wallet's ciphertext ever reach them. */

// Schemas parsed on every request are built once: zod 4 builds a schema's checks on its first
// parse, so a schema made per call costs that work on every call (issue 11's profile).
const verifiedKeyOrNone = verifiedKeySchema.nullable();

const createResultSchema = z.union([
  okResult({ key: keyRowSchema }),
  refusedResult("key_limit_reached", { limit: z.number() }),
  refusedResult("key_daily_limit_reached", { limit: z.number(), retry_at: z.string() }),
  refusedResult("account_suspended", { reason: z.string() }),
  refusedResult("account_not_found"),
]);

/** Inserts a key within the account's active and daily limits (refused for a suspended account). */
export function insertApiKey(
  db: Database,
  args: {
    accountId: string;
    name: string;
    mode: string;
    keyHash: string;
    keyPrefix: string;
    walletPublicKey: string;
    walletSecretEncrypted: string;
    maxKeys: number;
    dailyLimit: number;
  },
) {
  return callFunction(
    db,
    "tdk_create_api_key",
    {
      p_account_id: args.accountId,
      p_name: args.name,
      p_mode: args.mode,
      p_key_hash: args.keyHash,
      p_key_prefix: args.keyPrefix,
      p_wallet_public_key: args.walletPublicKey,
      p_wallet_secret_encrypted: args.walletSecretEncrypted,
      p_max_keys: args.maxKeys,
      p_daily_limit: args.dailyLimit,
    },
    createResultSchema,
  );
}

/** Caches the wallet's balances, as read from the chain, on the key row. */
export async function setWalletBalances(db: Database, keyId: string, usdcMicro: bigint, solLamports: bigint): Promise<void> {
  await callFunction(
    db,
    "tdk_set_wallet_balances",
    { p_key_id: keyId, p_usdc_micro: usdcMicro, p_sol_lamports: solLamports },
    z.object({ updated: z.boolean() }),
  );
}

/** One of the account's keys; null for another account's or an unknown one. */
export function getKeyRow(db: Database, accountId: string, keyId: string): Promise<KeyRow | null> {
  return callFunction(db, "tdk_get_api_key", { p_account_id: accountId, p_key_id: keyId }, keyRowSchema.nullable());
}

export function listKeyRows(db: Database, accountId: string): Promise<KeyRow[]> {
  return callFunction(db, "tdk_list_api_keys", { p_account_id: accountId }, z.array(keyRowSchema));
}

export function revokeKeyRow(db: Database, accountId: string, keyId: string) {
  return callFunction(
    db,
    "tdk_revoke_api_key",
    { p_account_id: accountId, p_key_id: keyId },
    z.union([okResult({ key: keyRowSchema }), refusedResult("not_found")]),
  );
}

/** The key with this hash, with its account's suspension; null for none. One indexed lookup. */
export async function findKeyByHash(db: Database, keyHash: string): Promise<VerifiedKey | null> {
  const key = await callFunction(db, "tdk_verify_api_key", { p_key_hash: keyHash }, verifiedKeyOrNone);
  return key && { ...key, key_hash: keyHash };
}

export function setSpendLimitRow(db: Database, accountId: string, keyId: string, limitMicro: bigint | null, period: SpendPeriod | null) {
  return callFunction(
    db,
    "tdk_set_key_spend_limit",
    { p_account_id: accountId, p_key_id: keyId, p_limit_micro: limitMicro, p_period: period },
    z.union([okResult({ key: keyRowSchema }), z.object({ ok: z.literal(false), code: z.enum(["not_found", "key_revoked"]) })]),
  );
}

const walletSecretPageSchema = z.array(z.object({ key_id: z.string().uuid(), public_key: z.string(), secret_encrypted: z.string() }));

/** A page of wallets' encrypted secrets, in key-id order after `afterId` (key rotation). */
export function listWalletSecrets(db: Database, afterId: string | null, limit: number) {
  return callFunction(db, "tdk_list_wallet_secrets", { p_after_id: afterId, p_limit: limit }, walletSecretPageSchema);
}

/** Replaces a wallet's ciphertext if it is still `old` (compare-and-swap). */
export async function reencryptWalletSecret(db: Database, keyId: string, oldCiphertext: string, newCiphertext: string): Promise<boolean> {
  return (
    await callFunction(
      db,
      "tdk_reencrypt_wallet_secret",
      { p_key_id: keyId, p_old: oldCiphertext, p_new: newCiphertext },
      z.object({ updated: z.boolean() }),
    )
  ).updated;
}

/** A key's wallet secret, encrypted (bound to its public key): decrypted only to sign that wallet's own transaction. */
export function getWalletSecret(db: Database, keyId: string) {
  return callFunction(db, "tdk_get_wallet_secret", { p_key_id: keyId }, z.object({ public_key: z.string(), secret_encrypted: z.string() }));
}

/** A new secret for the key (same id, same wallet); the previous one verifies until `graceSeconds` from now. */
export function rotateKeyRow(db: Database, accountId: string, keyId: string, keyHash: string, keyPrefix: string, graceSeconds: number) {
  return callFunction(
    db,
    "tdk_rotate_api_key",
    { p_account_id: accountId, p_key_id: keyId, p_key_hash: keyHash, p_key_prefix: keyPrefix, p_grace_seconds: graceSeconds },
    z.union([
      okResult({ key: keyRowSchema, previous_expires_at: z.string() }),
      refusedResult("not_found"),
      refusedResult("key_revoked"),
      refusedResult("invalid_grace_period"),
    ]),
  );
}
