import { Keypair } from "@solana/web3.js";
import { sealKeypair, openKeypair } from "@/lib/crypto/wallet-keys";
import type { KeyRing } from "@/lib/crypto/secret-box";
import type { Database } from "@/lib/db";
import { getTreasuryRow, insertTreasury } from "./funding-store";
import type { FaucetLedger } from "./ledger";

/** The treasury wallet, decrypted; null until one is created or imported. */
export async function loadTreasury(db: Database, ring: KeyRing): Promise<Keypair | null> {
  const row = await getTreasuryRow(db);
  return row ? openKeypair(ring, row.secret_encrypted, row.public_key) : null;
}

export async function treasuryPublicKey(db: Database): Promise<string | null> {
  return (await getTreasuryRow(db))?.public_key ?? null;
}

/** Stores a treasury keypair encrypted. Refuses to replace an existing one unless told to. */
export async function storeTreasury(db: Database, ring: KeyRing, keypair: Keypair, options: { replace: boolean }) {
  const sealed = sealKeypair(ring, keypair);
  return insertTreasury(db, sealed.publicKey, sealed.secretEncrypted, options.replace);
}

/**
 * Embedded default: a treasury is created on first start and stocked from the local ledger's
 * faucet up to its configured float, so new keys can be funded with no setup at all.
 */
export async function ensureEmbeddedTreasury(
  db: Database,
  ring: KeyRing,
  ledger: FaucetLedger,
  float: { usdcMicro: bigint; solLamports: bigint },
): Promise<Keypair> {
  let treasury = await loadTreasury(db, ring);
  if (!treasury) {
    const stored = await storeTreasury(db, ring, Keypair.generate(), { replace: false });
    if (!stored.ok && stored.code !== "treasury_exists") throw new Error(`Cannot create the treasury: ${stored.code}`);
    treasury = (await loadTreasury(db, ring))!;
  }
  const [usdc, sol] = await Promise.all([ledger.getUsdcBalance(treasury.publicKey), ledger.getSolBalance(treasury.publicKey)]);
  const usdcShort = usdc < float.usdcMicro ? float.usdcMicro - usdc : 0n;
  const solShort = sol < float.solLamports ? float.solLamports - sol : 0n;
  if (usdcShort > 0n || solShort > 0n) await ledger.fund(treasury.publicKey, usdcShort, solShort);
  return treasury;
}
