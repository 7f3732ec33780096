import { logLine } from "@/lib/logger";
/** Operator alerts: always a log line; also POSTed as JSON to ALERT_WEBHOOK_URL when set. */
export interface Alert {
  kind: string;
  message: string;
  details?: Record<string, unknown>;
}

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
