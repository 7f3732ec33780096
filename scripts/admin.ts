// The operator console's role, granted or taken back from the command line (never from the web).
//
//   npm run admin -- grant <email>
//   npm run admin -- revoke <email>
//
// Uses the app's configuration (DATABASE_URL / SUPABASE_* / the embedded database in TDK_DATA_DIR,
// which must not be open in a running gateway). The change is in the audit log, by operator:cli.
import { openDatabase, type Database } from "@/lib/db";
import { parseEnv } from "@/lib/env";
import { setRole } from "@/lib/ops/admin-store";
import { runAsScript } from "./cli";

/** Runs one command; returns its exit code and what to print. */
export async function adminCommand(db: Database, args: string[]): Promise<{ code: number; message: string }> {
  const [command, email] = args;
  if ((command !== "grant" && command !== "revoke") || !email) return { code: 2, message: "Usage: npm run admin -- grant|revoke <email>" };
  const result = await setRole(db, "operator:cli", email, command === "grant" ? "admin" : "developer");
  if (!result.ok) return { code: 1, message: `No account with the email ${email}.` };
  return { code: 0, message: `${email} is now ${result.role === "admin" ? "an admin: the console is at /admin" : "a developer"}.` };
}

runAsScript(__filename, async () => {
  const db = await openDatabase(parseEnv(process.env));
  try {
    const { code, message } = await adminCommand(db, process.argv.slice(2));
    (code === 0 ? console.log : console.error)(message);
    process.exitCode = code;
  } finally {
    await db.close();
  }
});
