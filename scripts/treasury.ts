// Treasury operator tasks: show, create or import the treasury wallet (stored encrypted).
//
//   npm run treasury -- show
//   npm run treasury -- create [--replace]
//   npm run treasury -- import <path to a Solana CLI keypair JSON file> [--replace]
//
// Uses the same configuration as the app (DATABASE_URL / SUPABASE_*, WALLET_ENCRYPTION_KEY,
// SOLANA_RPC_URL + USDC_MINT). The secret is read from a file, never from the command line (it would
// land in the shell history), and never printed.
import { readFile } from "node:fs/promises";
import { Keypair, PublicKey } from "@solana/web3.js";
import { z } from "zod";
import { openLedger } from "@/lib/context";
import { loadKeyRing } from "@/lib/crypto/key-ring";
import { openDatabase } from "@/lib/db";
import { parseEnv } from "@/lib/env";
import { lamportsToSol, microToUsd } from "@/lib/money/units";
import { storeTreasury, treasuryPublicKey } from "@/lib/solana/treasury";

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  const replace = rest.includes("--replace");
  const env = parseEnv(process.env);
  const db = await openDatabase(env);
  try {
    if (command === "show") {
      const publicKey = await treasuryPublicKey(db);
      if (!publicKey) return console.log("No treasury yet: run `npm run treasury -- create` or `import`.");
      const ledger = await openLedger(env);
      const owner = new PublicKey(publicKey);
      const [usdc, sol] = await Promise.all([ledger.getUsdcBalance(owner), ledger.getSolBalance(owner)]);
      console.log(`Treasury ${publicKey}: ${microToUsd(usdc)} USDC, ${lamportsToSol(sol)} SOL (${ledger.kind} ledger)`);
      return;
    }
    let keypair: Keypair;
    if (command === "create") {
      keypair = Keypair.generate();
    } else if (command === "import" && rest[0] && !rest[0].startsWith("--")) {
      const bytes = z
        .array(z.number().int().min(0).max(255))
        .length(64)
        .parse(JSON.parse(await readFile(rest[0], "utf8")));
      keypair = Keypair.fromSecretKey(Uint8Array.from(bytes));
    } else {
      console.error("Usage: treasury show | create [--replace] | import <keypair.json> [--replace]");
      process.exitCode = 2;
      return;
    }
    const result = await storeTreasury(db, await loadKeyRing(env), keypair, { replace });
    if (!result.ok) {
      console.error(`A treasury already exists (${result.public_key}). Pass --replace to replace it.`);
      process.exitCode = 1;
      return;
    }
    console.log(`Treasury ${result.replaced ? "replaced" : "stored"}: ${result.public_key}. Fund it with USDC and SOL at that address.`);
  } finally {
    await db.close();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
