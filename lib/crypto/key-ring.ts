import { randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Env } from "@/lib/env";
import type { KeyRing } from "./secret-box";
import { logger } from "@/lib/logger";

/**
 * The master keys from the environment. Without WALLET_ENCRYPTION_KEY (embedded runs only: the
 * env refuses it in production) a development key is generated once into the data dir, mode 0600,
 * so wallets created on the embedded defaults survive a restart.
 */
export async function loadKeyRing(env: Env): Promise<KeyRing> {
  if (env.encryption) return env.encryption;
  const file = path.join(env.dataDir, "dev-encryption-key");
  let hex: string;
  try {
    hex = (await readFile(file, "utf8")).trim();
  } catch {
    hex = randomBytes(32).toString("hex");
    await mkdir(env.dataDir, { recursive: true });
    await writeFile(file, `${hex}\n`, { mode: 0o600, flag: "wx" }).catch(async () => {
      hex = (await readFile(file, "utf8")).trim();
    });
    await chmod(file, 0o600);
    logger.warn(`WALLET_ENCRYPTION_KEY is not set: using the development key in ${file}`);
  }
  if (!/^[0-9a-f]{64}$/i.test(hex)) throw new Error(`${file} does not hold a 64-hex-char key`);
  return { current: { version: 1, key: Buffer.from(hex, "hex") }, decryptOnly: [] };
}
