import { Keypair, PublicKey } from "@solana/web3.js";
import type { KeyRing } from "@/lib/crypto/secret-box";
import { sealKeypair } from "@/lib/crypto/wallet-keys";
import type { Database } from "@/lib/db";
import { findKeyByHash, getKeyRow, insertApiKey, listKeyRows, revokeKeyRow, setSpendLimitRow, setWalletBalances } from "./key-store";
import { fundWallets, type Funding, type FundingDeps, type FundingRefusalCode } from "@/lib/solana/funding";
import type { Ledger } from "@/lib/solana/ledger";
import { generateApiKey, hashApiKey, looksLikeApiKey, type KeyMode } from "./api-key";
import type { RecentVerifications } from "./recent-verifications";
import type { KeyRow, KeyView, UpdateKey, VerifiedKey } from "./schemas";
import { lamportsToSol, microToUsd } from "@/lib/money/units";

export type { KeyView } from "./schemas";

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
      usdc: microToUsd(BigInt(row.wallet_usdc_micro)),
      sol: lamportsToSol(BigInt(row.wallet_sol_lamports)),
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

  const created = await insertApiKey(db, {
    accountId,
    name: name ?? "Default key",
    mode: config.mode,
    keyHash: generated.hash,
    keyPrefix: generated.prefix,
    walletPublicKey: sealed.publicKey,
    walletSecretEncrypted: sealed.secretEncrypted,
    maxKeys: config.maxPerAccount,
    dailyLimit: config.createdPerDay,
  });
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
          sol: lamportsToSol(BigInt(sent.sol_lamports)),
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
  await setWalletBalances(db, keyId, usdc, sol);
  return getKeyRow(db, accountId, keyId);
}

export async function listApiKeys(db: Database, accountId: string): Promise<KeyView[]> {
  return (await listKeyRows(db, accountId)).map(toKeyView);
}

export async function getApiKey(db: Database, accountId: string, keyId: string): Promise<KeyView | null> {
  const row = await getKeyRow(db, accountId, keyId);
  return row ? toKeyView(row) : null;
}

export async function revokeApiKey(db: Database, accountId: string, keyId: string): Promise<KeyView | null> {
  const result = await revokeKeyRow(db, accountId, keyId);
  return result.ok ? toKeyView(result.key) : null;
}

export type VerifyKeyResult =
  | { ok: true; key: VerifiedKey }
  | { ok: false; code: "invalid_api_key" | "key_revoked" | "key_suspended" | "account_suspended"; reason?: string | null };

/**
 * Bearer API key → its key and account, in one indexed lookup by hash. With `recent`, a
 * verification that held less than its TTL ago is reused: only for a caller that checks the key
 * again where it matters (the paid call's reservation; see RecentVerifications).
 */
export async function verifyApiKey(db: Database, apiKey: string, recent: RecentVerifications | null = null): Promise<VerifyKeyResult> {
  if (!looksLikeApiKey(apiKey)) return { ok: false, code: "invalid_api_key" };
  const keyHash = hashApiKey(apiKey);
  const kept = recent?.get(keyHash);
  if (kept) return { ok: true, key: kept };
  const key = await findKeyByHash(db, keyHash);
  if (!key) return { ok: false, code: "invalid_api_key" };
  if (key.status === "revoked") return { ok: false, code: "key_revoked" };
  if (key.status === "suspended") return { ok: false, code: "key_suspended", reason: key.suspended_reason };
  if (key.account_suspended_reason) return { ok: false, code: "account_suspended", reason: key.account_suspended_reason };
  recent?.remember(key);
  return { ok: true, key };
}

export type SetSpendLimitResult = { ok: true; key: KeyView } | { ok: false; code: "not_found" | "key_revoked" };

/** Sets or clears a key's spend limit; what it spent in the current period already counts. */
export async function setKeySpendLimit(db: Database, accountId: string, keyId: string, update: UpdateKey): Promise<SetSpendLimitResult> {
  const period = update.spend_limit_usd === null ? null : (update.spend_limit_period ?? null);
  const result = await setSpendLimitRow(db, accountId, keyId, update.spend_limit_usd, period);
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
