import { Transaction } from "@solana/web3.js";
import { MarketplaceClient, type FetchLike } from "@/lib/agents/marketplace-client";
import type { AppContext } from "@/lib/context";

/** A hostile or broken marketplace: the app's real local marketplace, with its answers altered on the wire by `alter`. */
// The altered answers are the marketplace's free-form JSON.
export function alteredMarketplace(app: AppContext, alter: (path: string, body: any) => any): AppContext["agents"] {
  const local = app.agents.local!;
  const fetchImpl: FetchLike = async (url, init) => {
    const response = await local.fetch(url, init);
    const altered = await alter(new URL(url).pathname, await response.json());
    if (altered instanceof Response) return altered;
    return new Response(JSON.stringify(altered), { status: response.status, headers: { "content-type": "application/json" } });
  };
  return { ...app.agents, client: new MarketplaceClient(local.apiUrl, fetchImpl) };
}

/** A marketplace that changes the payment it built before handing it to the gateway to sign. */
export function tamperedPayments(app: AppContext, change: (tx: Transaction) => Transaction | Buffer): AppContext["agents"] {
  return alteredMarketplace(app, (path, body) => {
    if (!path.endsWith("/build-transaction") || !body.ok) return body;
    const changed = change(Transaction.from(Buffer.from(body.transaction, "base64")));
    const bytes = Buffer.isBuffer(changed) ? changed : changed.serialize({ requireAllSignatures: false, verifySignatures: false });
    return { ...body, transaction: bytes.toString("base64") };
  });
}
