import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

export interface ReceivedAlert {
  source: string;
  kind: string;
  key?: string;
  message: string;
  details?: Record<string, unknown>;
}

export interface AlertWebhook {
  /** For ALERT_WEBHOOK_URL. */
  url: string;
  /** Every alert POSTed to it, in order. */
  received: ReceivedAlert[];
  close(): Promise<void>;
}

/** A local HTTP server standing in for the operator's alert webhook: it keeps what it receives. */
export async function startAlertWebhook(): Promise<AlertWebhook> {
  const received: ReceivedAlert[] = [];
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    received.push(JSON.parse(Buffer.concat(chunks).toString("utf8")));
    res.writeHead(204).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/alerts`,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
