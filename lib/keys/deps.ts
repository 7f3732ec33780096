import type { AppContext } from "@/lib/context";
import { fundingDeps } from "@/lib/money/funding-deps";
import type { KeyDeps } from "./keys";

/** What key creation needs, from the app context; the treasury is decrypted only now. */
export async function keyDeps(app: AppContext): Promise<KeyDeps> {
  return {
    db: app.db,
    ledger: app.ledger,
    ring: app.ring,
    funding: await fundingDeps(app),
    config: {
      mode: app.env.keys.mode,
      maxPerAccount: app.env.keys.maxPerAccount,
      createdPerDay: app.env.keys.createdPerDay,
      initialUsdcMicro: app.env.funding.initialUsdcMicro,
      initialSolLamports: app.env.funding.initialSolLamports,
    },
  };
}
