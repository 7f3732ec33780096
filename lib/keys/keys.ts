import { Keypair, PublicKey } from "@solana/web3.js";
import { z } from "zod";
import type { KeyRing } from "@/lib/crypto/secret-box";
import { sealKeypair } from "@/lib/crypto/wallet-keys";
import { callFunction, type Database } from "@/lib/db";
import { microToUsd } from "@/lib/money/units";
import { fundWallets, type Funding, type FundingDeps, type FundingRefusalCode } from "@/lib/solana/funding";
import type { Ledger } from "@/lib/solana/ledger";
import { formatUnits, USDC_DECIMALS } from "@/lib/money/units";
import { generateApiKey, hashApiKey, looksLikeApiKey, type KeyMode } from "./api-key";
import { keyRowSchema, verifiedKeySchema, type KeyRow, type SpendPeriod, type UpdateKey, type VerifiedKey } from "./schemas";

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
  /** The developer's own bound on what the key may cost (developer price); null when none is set. */
  spend_limit: {
    usd: string;
    period: SpendPeriod;
    spent_usd: string;
    remaining_usd: string;
    /** When the period's spend starts again from zero; null for a `total` limit. */
    resets_at: string | null;
  } | null;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

export function toKeyView(row: KeyRow): KeyView {
  const limit = row.spend_limit_micro === null || row.spend_limit_period === null ? null : BigInt(row.spend_limit_micro);
  const spent = BigInt(row.spent_micro ?? 0);
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
    spend_limit:
      limit === null
        ? null
        : {
            usd: microToUsd(limit),
            period: row.spend_limit_period!,
            spent_usd: microToUsd(spent),
            remaining_usd: microToUsd(limit > spent ? limit - spent : 0n),
            resets_at: row.spend_resets_at,
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
  funding: FundingDeps | null;
  config: { mode: KeyMode; maxPerAccount: number; createdPerDay: number; initialUsdcMicro: bigint; initialSolLamports: bigint };
}

/** The new key's first funding: what was sent, or why nothing was (a cap, no card yet...). */
export type InitialFunding =
  | { status: Funding["status"]; tx_signature: string | null; usdc: string; sol: string }
  | { status: "not_funded"; reason: FundingRefusalCode }
  | null;

export type CreateKeyResult =
  | { ok: true; apiKey: string; key: KeyView; funding: InitialFunding }
  | { ok: false; code: "key_limit_reached" | "key_daily_limit_reached"; limit: number; retry_at?: string }
  | { ok: false; code: "account_suspended"; reason: string }
  | { ok: false; code: "account_not_found" };

const createResultSchema = z.union([
  z.object({ ok: z.literal(true), key: keyRowSchema }),
  z.object({ ok: z.literal(false), code: z.literal("key_limit_reached"), limit: z.number() }),
  z.object({ ok: z.literal(false), code: z.literal("key_daily_limit_reached"), limit: z.number(), retry_at: z.string() }),
  z.object({ ok: z.literal(false), code: z.literal("account_suspended"), reason: z.string() }),
  z.object({ ok: z.literal(false), code: z.literal("account_not_found") }),
]);

/**
 * Creates a key with its own wallet: keypair generated here, secret stored only encrypted (bound
 * to its public key), wallet funded from the treasury through the funding path (as far as the
 * caps allow), balances read back from the chain. No key for a suspended account, none past the
 * account's active and daily limits.
 */
export async function createApiKey(deps: KeyDeps, accountId: string, name: string | undefined): Promise<CreateKeyResult> {
  const { db, ledger, ring, config } = deps;
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
      p_daily_limit: config.createdPerDay,
    },
    createResultSchema,
  );
  if (!created.ok) return created;

  let funding: InitialFunding = null;
  if (deps.funding && (config.initialUsdcMicro > 0n || config.initialSolLamports > 0n)) {
    const outcome = await fundWallets(deps.funding, [
      {
        keyId: created.key.id,
        wallet: wallet.publicKey,
        reason: "initial",
        usdcMicro: config.initialUsdcMicro,
        solLamports: config.initialSolLamports,
        usdcAccountExists: false,
      },
    ]);
    const sent = outcome.fundings[0];
    funding = sent
      ? {
          status: sent.status,
          tx_signature: sent.tx_signature,
          usdc: microToUsd(sent.usdc_micro),
          sol: formatUnits(BigInt(sent.sol_lamports), 9),
        }
      : { status: "not_funded", reason: outcome.refused[0]?.code ?? "not_needed" };
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
  await callFunction(
    db,
    "tdk_set_wallet_balances",
    { p_key_id: keyId, p_usdc_micro: usdc, p_sol_lamports: sol },
    z.object({ updated: z.boolean() }),
  );
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
  | { ok: false; code: "invalid_api_key" | "key_revoked" | "key_suspended" | "account_suspended"; reason?: string | null };

/** Bearer API key → its key and account, in one indexed lookup by hash. */
export async function verifyApiKey(db: Database, apiKey: string): Promise<VerifyKeyResult> {
  if (!looksLikeApiKey(apiKey)) return { ok: false, code: "invalid_api_key" };
  const key = await callFunction(db, "tdk_verify_api_key", { p_key_hash: hashApiKey(apiKey) }, verifiedKeySchema.nullable());
  if (!key) return { ok: false, code: "invalid_api_key" };
  if (key.status === "revoked") return { ok: false, code: "key_revoked" };
  if (key.status === "suspended") return { ok: false, code: "key_suspended", reason: key.suspended_reason };
  if (key.account_suspended_reason) return { ok: false, code: "account_suspended", reason: key.account_suspended_reason };
  return { ok: true, key };
}

export type SetSpendLimitResult = { ok: true; key: KeyView } | { ok: false; code: "not_found" | "key_revoked" };

/** Sets or clears a key's spend limit; what it spent in the current period already counts. */
export async function setKeySpendLimit(db: Database, accountId: string, keyId: string, update: UpdateKey): Promise<SetSpendLimitResult> {
  const result = await callFunction(
    db,
    "tdk_set_key_spend_limit",
    {
      p_account_id: accountId,
      p_key_id: keyId,
      p_limit_micro: update.spend_limit_usd,
      p_period: update.spend_limit_usd === null ? null : (update.spend_limit_period ?? null),
    },
    z.union([
      z.object({ ok: z.literal(true), key: keyRowSchema }),
      z.object({ ok: z.literal(false), code: z.enum(["not_found", "key_revoked"]) }),
    ]),
  );
  return result.ok ? { ok: true, key: toKeyView(result.key) } : result;
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
