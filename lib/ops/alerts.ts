import { logLine } from "@/lib/logger";
/**
 * Operator alerts: a log line, and a JSON POST to ALERT_WEBHOOK_URL when set. Through the alert
 * service (lib/services.ts) each is sent once per cause per ALERT_REPEAT_SECONDS: `key` names the
 * cause within its kind (an agent, an event type, a refusal code); without one, the kind is the cause.
 */
export interface Alert {
  kind: string;
  message: string;
  key?: string;
  details?: Record<string, unknown>;
}

/** A lasting condition is repeated at most this often. */
export const ALERT_REPEAT_SECONDS = 3_600;

export async function raiseAlert(
  alert: Alert,
  options: { webhookUrl: string | null; log?: (line: string) => void; fetchImpl?: typeof fetch },
): Promise<void> {
  (options.log ?? logLine("warn"))(`[tdk] ALERT ${alert.kind}: ${alert.message}`);
  if (!options.webhookUrl) return;
  try {
    const response = await (options.fetchImpl ?? fetch)(options.webhookUrl, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ source: "tdk-gateway", at: new Date().toISOString(), ...alert }),
      signal: AbortSignal.timeout(5_000),
    });
    if (!response.ok) (options.log ?? logLine("warn"))(`[tdk] alert webhook answered ${response.status}`);
  } catch (error) {
    (options.log ?? logLine("warn"))(`[tdk] alert webhook unreachable: ${(error as Error).message}`);
  }
}
