import { z } from "zod";
import { callFunction, type Database } from "@/lib/db";

const walletPageSchema = z.array(z.object({ key_id: z.string().uuid(), wallet_public_key: z.string() }));
export type WalletPage = z.infer<typeof walletPageSchema>;

/**
 * Walks a keyset-paged listing of keys' wallets (by key id) one page at a time: the crons never
 * hold more than a page of wallets, whatever the number of keys. Returns how many were visited.
 */
export async function forEachWalletPage(
  db: Database,
  listing: "tdk_list_active_wallets" | "tdk_list_wallets_to_sweep",
  pageSize: number,
  visit: (page: WalletPage) => Promise<void>,
): Promise<number> {
  let after: string | null = null;
  let visited = 0;
  for (;;) {
    const page: WalletPage = await callFunction(db, listing, { p_after_id: after, p_limit: pageSize }, walletPageSchema);
    if (page.length === 0) break;
    after = page.at(-1)!.key_id;
    visited += page.length;
    await visit(page);
    if (page.length < pageSize) break;
  }
  return visited;
}
