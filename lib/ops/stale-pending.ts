import type { Database } from "@/lib/db";
import { stalePending } from "./ops-store";
import { type Alert, raiseAlert } from "./alerts";

/**
 * A call or funding still pending after this long is one recovery could not settle from the chain:
 * its payment may still land, or nothing proves it cannot (a row from before payments recorded their
 * expiry height). It is never guessed away; an operator is told.
 */
export const PENDING_ALERT_MS = 10 * 60_000;

export async function alertStalePending(
  db: Database,
  options: { webhookUrl: string | null; log?: (line: string) => void; now?: Date; raise?: (alert: Alert) => Promise<void> },
) {
  const threshold = new Date((options.now ?? new Date()).getTime() - PENDING_ALERT_MS);
  const stale = await stalePending(db, threshold);
  if (stale.calls > 0 || stale.fundings > 0) {
    const alert: Alert = {
      kind: "pending_stale",
      message: `${stale.calls} calls and ${stale.fundings} fundings are pending for more than ${PENDING_ALERT_MS / 60_000} minutes${stale.oldest_call ? ` (oldest call since ${stale.oldest_call})` : ""}: their outcome is not proven yet.`,
      details: stale,
    };
    await (options.raise ? options.raise(alert) : raiseAlert(alert, { webhookUrl: options.webhookUrl, log: options.log }));
  }
  return stale;
}
