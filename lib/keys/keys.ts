import { Keypair, PublicKey } from "@solana/web3.js";
import { z } from "zod";
import type { KeyRing } from "@/lib/crypto/secret-box";
import { sealKeypair } from "@/lib/crypto/wallet-keys";
import { callFunction, type Database } from "@/lib/db";
import { fundWallet, type Funding } from "@/lib/solana/funding";
import { formatUnits, USDC_DECIMALS, type Ledger } from "@/lib/solana/ledger";
import { generateApiKey, hashApiKey, looksLikeApiKey, type KeyMode } from "./api-key";
import { keyRowSchema, verifiedKeySchema, type KeyRow, type VerifiedKey } from "./schemas";

/** A key as its owner sees it: balances in base units and as decimal strings (never floats). */
export interface KeyView {
  id: string;
  name: string;
  prefix: string;
  mode: KeyMode;
  tier: KeyRow["tier"];
  status: KeyRow["status"];
  suspended_reason: string | null;
  wallet: {
    public_key: string;
    usdc: string;
    sol: string;
    usdc_micro: number;
    sol_lamports: number;
    balances_at: string | null;
  };
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

export function toKeyView(row: KeyRow): KeyView {
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    mode: row.mode,
    tier: row.tier,
    status: row.status,
    suspended_reason: row.suspended_reason,
    wallet: {
      public_key: row.wallet_public_key,
      usdc: formatUnits(BigInt(row.wallet_usdc_micro), USDC_DECIMALS),
      sol: formatUnits(BigInt(row.wallet_sol_lamports), 9),
      usdc_micro: row.wallet_usdc_micro,
      sol_lamports: row.wallet_sol_lamports,
      balances_at: row.wallet_balances_at,
    },
    created_at: row.created_at,
    last_used_at: row.last_used_at,
    revoked_at: row.revoked_at,
  };
}

export interface KeyDeps {
  db: Database;
  ledger: Ledger;
  ring: KeyRing;
  /** Null when no treasury is set up (RPC ledger before `scripts/treasury.ts`): keys start unfunded. */
  treasury: Keypair | null;
  config: { mode: KeyMode; maxPerAccount: number; initialUsdcMicro: bigint; initialSolLamports: bigint };
}

export type CreateKeyResult =
  | { ok: true; apiKey: string; key: KeyView; funding: Funding | null }
  | { ok: false; code: "key_limit_reached"; limit: number }
  | { ok: false; code: "account_not_found" };

const createResultSchema = z.union([
  z.object({ ok: z.literal(true), key: keyRowSchema }),
  z.object({ ok: z.literal(false), code: z.literal("key_limit_reached"), limit: z.number() }),
  z.object({ ok: z.literal(false), code: z.literal("account_not_found") }),
]);

/**
 * Creates a key with its own wallet: keypair generated here, secret stored only encrypted (bound
 * to its public key), wallet funded from the treasury, balances read back from the chain.
 */
export async function createApiKey(deps: KeyDeps, accountId: string, name: string | undefined): Promise<CreateKeyResult> {
  const { db, ledger, ring, treasury, config } = deps;
  const generated = generateApiKey(config.mode);
  const wallet = Keypair.generate();
  const sealed = sealKeypair(ring, wallet);

  const created = await callFunction(
    db,
    "tdk_create_api_key",
    {
      p_account_id: accountId,
      p_name: name ?? "Default key",
      p_mode: config.mode,
      p_key_hash: generated.hash,
      p_key_prefix: generated.prefix,
      p_wallet_public_key: sealed.publicKey,
      p_wallet_secret_encrypted: sealed.secretEncrypted,
      p_max_keys: config.maxPerAccount,
    },
    createResultSchema,
  );
  if (!created.ok) return created;

  let funding: Funding | null = null;
  if (treasury && (config.initialUsdcMicro > 0n || config.initialSolLamports > 0n)) {
    funding = await fundWallet(
      { db, ledger, treasury },
      { apiKeyId: created.key.id, wallet: wallet.publicKey, usdcMicro: config.initialUsdcMicro, solLamports: config.initialSolLamports, reason: "initial" },
    );
  }
  const row = (await refreshWalletBalances(db, ledger, accountId, created.key.id, wallet.publicKey)) ?? created.key;
  return { ok: true, apiKey: generated.apiKey, key: toKeyView(row), funding };
}

/** Reads the wallet's balances from the chain and caches them on the key row. */
export async function refreshWalletBalances(
  db: Database,
  ledger: Ledger,
  accountId: string,
  keyId: string,
  wallet: PublicKey,
): Promise<KeyRow | null> {
  const [usdc, sol] = await Promise.all([ledger.getUsdcBalance(wallet), ledger.getSolBalance(wallet)]);
  await callFunction(db, "tdk_set_wallet_balances", { p_key_id: keyId, p_usdc_micro: usdc, p_sol_lamports: sol }, z.object({ updated: z.boolean() }));
  return callFunction(db, "tdk_get_api_key", { p_account_id: accountId, p_key_id: keyId }, keyRowSchema.nullable());
}

export async function listApiKeys(db: Database, accountId: string): Promise<KeyView[]> {
  const rows = await callFunction(db, "tdk_list_api_keys", { p_account_id: accountId }, z.array(keyRowSchema));
  return rows.map(toKeyView);
}

export async function getApiKey(db: Database, accountId: string, keyId: string): Promise<KeyView | null> {
  const row = await callFunction(db, "tdk_get_api_key", { p_account_id: accountId, p_key_id: keyId }, keyRowSchema.nullable());
  return row ? toKeyView(row) : null;
}

export async function revokeApiKey(db: Database, accountId: string, keyId: string): Promise<KeyView | null> {
  const result = await callFunction(
    db,
    "tdk_revoke_api_key",
    { p_account_id: accountId, p_key_id: keyId },
    z.union([z.object({ ok: z.literal(true), key: keyRowSchema }), z.object({ ok: z.literal(false), code: z.literal("not_found") })]),
  );
  return result.ok ? toKeyView(result.key) : null;
}

export type VerifyKeyResult =
  | { ok: true; key: VerifiedKey }
  | { ok: false; code: "invalid_api_key" | "key_revoked" | "key_suspended"; reason?: string | null };

/** Bearer API key → its key and account, in one indexed lookup by hash. */
export async function verifyApiKey(db: Database, apiKey: string): Promise<VerifyKeyResult> {
  if (!looksLikeApiKey(apiKey)) return { ok: false, code: "invalid_api_key" };
  const key = await callFunction(db, "tdk_verify_api_key", { p_key_hash: hashApiKey(apiKey) }, verifiedKeySchema.nullable());
  if (!key) return { ok: false, code: "invalid_api_key" };
  if (key.status === "revoked") return { ok: false, code: "key_revoked" };
  if (key.status === "suspended") return { ok: false, code: "key_suspended", reason: key.suspended_reason };
  return { ok: true, key };
}

/** The account's keys, with live keys' balances read from the chain (cached on the rows). */
export async function listApiKeysWithBalances(db: Database, ledger: Ledger, accountId: string): Promise<KeyView[]> {
  const keys = await listApiKeys(db, accountId);
  return Promise.all(
    keys.map(async (key) => {
      if (key.status === "revoked") return key;
      const row = await refreshWalletBalances(db, ledger, accountId, key.id, new PublicKey(key.wallet.public_key));
      return row ? toKeyView(row) : key;
    }),
  );
}
