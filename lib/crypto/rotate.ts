import type { Database } from "@/lib/db";
import { listWalletSecrets, reencryptWalletSecret } from "@/lib/keys/key-store";
import { getTreasuryRow, reencryptTreasurySecret } from "@/lib/solana/funding-store";
import { decryptSecret, encryptSecret, keyVersionOf, type KeyRing } from "./secret-box";
import { openKeypair } from "./wallet-keys";

/**
 * Re-encrypts every wallet secret (and the treasury's) under the ring's current key version.
 * Resumable: only rows still on another version are touched, each with a compare-and-swap on its
 * old ciphertext, so a rerun after a crash continues where it stopped. A dry run counts only.
 */
export interface RotationReport {
  current_version: number;
  by_version: Record<string, number>;
  reencrypted: number;
  failed: { key_id: string; error: string }[];
  remaining_old: number;
}

export async function rotateWalletSecrets(
  db: Database,
  ring: KeyRing,
  options: { dryRun: boolean; pageSize?: number },
): Promise<RotationReport> {
  const report: RotationReport = { current_version: ring.current.version, by_version: {}, reencrypted: 0, failed: [], remaining_old: 0 };
  const count = (payload: string) => {
    const version = String(keyVersionOf(payload));
    report.by_version[version] = (report.by_version[version] ?? 0) + 1;
    return Number(version);
  };

  let after: string | null = null;
  for (;;) {
    const page = await listWalletSecrets(db, after, options.pageSize ?? 200);
    if (page.length === 0) break;
    after = page.at(-1)!.key_id;
    for (const row of page) {
      if (count(row.secret_encrypted) === ring.current.version) continue;
      if (options.dryRun) continue;
      try {
        // Decrypt and prove the wallet before writing anything back.
        const keypair = openKeypair(ring, row.secret_encrypted, row.public_key);
        const reencrypted = encryptSecret(ring, keypair.secretKey, row.public_key);
        if (await reencryptWalletSecret(db, row.key_id, row.secret_encrypted, reencrypted)) report.reencrypted += 1;
      } catch (error) {
        report.failed.push({ key_id: row.key_id, error: (error as Error).message });
      }
    }
  }

  const treasury = await getTreasuryRow(db);
  if (treasury && count(treasury.secret_encrypted) !== ring.current.version && !options.dryRun) {
    try {
      const secret = decryptSecret(ring, treasury.secret_encrypted, treasury.public_key);
      const reencrypted = encryptSecret(ring, secret, treasury.public_key);
      secret.fill(0);
      openKeypair(ring, reencrypted, treasury.public_key); // proves the new ciphertext before it replaces the old
      if (await reencryptTreasurySecret(db, treasury.secret_encrypted, reencrypted)) report.reencrypted += 1;
    } catch (error) {
      report.failed.push({ key_id: "treasury", error: (error as Error).message });
    }
  }

  report.remaining_old = options.dryRun
    ? Object.entries(report.by_version).reduce((sum, [version, n]) => (Number(version) === ring.current.version ? sum : sum + n), 0)
    : await countOld(db, ring.current.version);
  return report;
}

async function countOld(db: Database, currentVersion: number): Promise<number> {
  let old = 0;
  let after: string | null = null;
  for (;;) {
    const page = await listWalletSecrets(db, after, 500);
    if (page.length === 0) break;
    after = page.at(-1)!.key_id;
    old += page.filter((row) => keyVersionOf(row.secret_encrypted) !== currentVersion).length;
  }
  const treasury = await getTreasuryRow(db);
  if (treasury && keyVersionOf(treasury.secret_encrypted) !== currentVersion) old += 1;
  return old;
}
