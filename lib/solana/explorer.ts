import type { Env } from "@/lib/env";

/**
 * A transaction's page on the Solana Explorer for the configured network. The embedded local
 * ledger is on no public cluster: its link opens the explorer's custom-cluster view (localhost).
 */
export function explorerTxUrl(env: Pick<Env, "ledger">, signature: string): string {
  const base = `https://explorer.solana.com/tx/${encodeURIComponent(signature)}`;
  if (env.ledger.kind === "local") return `${base}?cluster=custom&customUrl=${encodeURIComponent("http://localhost:8899")}`;
  const url = env.ledger.rpcUrl;
  if (/devnet/i.test(url)) return `${base}?cluster=devnet`;
  if (/testnet/i.test(url)) return `${base}?cluster=testnet`;
  return base;
}
