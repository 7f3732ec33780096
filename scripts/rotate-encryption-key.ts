// Re-encrypts every wallet secret and the treasury under the current WALLET_ENCRYPTION_KEY_VERSION.
//
//   1. Generate a new key (npm run generate-encryption-key). Set WALLET_ENCRYPTION_KEY to it, raise
//      WALLET_ENCRYPTION_KEY_VERSION, and keep the old one decrypt-only in
//      WALLET_ENCRYPTION_OLD_KEYS="<old version>:<old key>". Deploy: new secrets use the new key.
//   2. npm run rotate-encryption-key            (dry run: counts rows per key version)
//   3. npm run rotate-encryption-key -- --apply (re-encrypts; safe to rerun, it resumes)
//   4. Only when it reports 0 rows left on old versions, remove the old key from the environment.
// It exits non-zero while any row is still on an old version.
import { loadKeyRing } from "@/lib/crypto/key-ring";
import { rotateWalletSecrets } from "@/lib/crypto/rotate";
import { openDatabase } from "@/lib/db";
import { parseEnv } from "@/lib/env";

async function main() {
  const apply = process.argv.includes("--apply");
  const env = parseEnv(process.env);
  const db = await openDatabase(env);
  try {
    const report = await rotateWalletSecrets(db, await loadKeyRing(env), { dryRun: !apply });
    console.log(JSON.stringify({ mode: apply ? "apply" : "dry-run", ...report }));
    if (report.failed.length > 0)
      console.error(`${report.failed.length} rows could not be re-encrypted (key missing from WALLET_ENCRYPTION_OLD_KEYS?).`);
    if (report.remaining_old > 0) {
      console.error(
        apply
          ? `Not finished: ${report.remaining_old} secrets are still on an old key version. Keep the old key and run again.`
          : `Dry run: ${report.remaining_old} secrets would be re-encrypted. Run with --apply.`,
      );
      process.exitCode = 1;
    } else {
      console.log(`Every secret is on key version ${report.current_version}. The old keys can be removed.`);
    }
  } finally {
    await db.close();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
