import type { Database } from "@/lib/db";
import { listWalletPage, type WalletPage } from "./ops-store";

export type { WalletPage } from "./ops-store";

/**
 * Walks a keyset-paged listing of keys' wallets (by key id) one page at a time: the crons never
 * hold more than a page of wallets, whatever the number of keys. Returns how many were visited.
 */
export async function forEachWalletPage(
  db: Database,
  listing: "active" | "to_sweep",
  pageSize: number,
  visit: (page: WalletPage) => Promise<void>,
): Promise<number> {
  let after: string | null = null;
  let visited = 0;
  for (;;) {
    const page: WalletPage = await listWalletPage(db, listing, after, pageSize);
    if (page.length === 0) break;
    after = page.at(-1)!.key_id;
    visited += page.length;
    await visit(page);
    if (page.length < pageSize) break;
  }
  return visited;
}
