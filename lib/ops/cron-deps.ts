import type { AppContext } from "@/lib/context";
import { raiseAlert } from "./alerts";
import { treasuryHealth, type TreasuryHealth } from "./treasury-health";

/** Checks the treasury against its float and raises the alert when it runs low. */
export async function checkTreasury(app: AppContext): Promise<TreasuryHealth> {
  const health = await treasuryHealth(app.db, app.ledger, app.env.treasuryFloat);
  if (health.status !== "ok") {
    await raiseAlert(
      {
        kind: "treasury_low",
        message:
          health.status === "missing"
            ? "No treasury is configured: wallets cannot be funded."
            : `Treasury ${health.public_key} is under 20% of its float in ${health.low.join(" and ")}: ${health.usdc} USDC, ${health.sol} SOL.`,
        details: { ...health },
      },
      { webhookUrl: app.env.alertWebhookUrl },
    );
  }
  return health;
}
