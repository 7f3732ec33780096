/**
 * `npm run bench` section 10: the top-up and sweep crons over 100,000 wallets (BENCH_CRON_WALLETS),
 * through their real routes, on the production shape of the chain: `RpcLedger` against the local
 * Solana cluster in its own process, as a real RPC provider would be. The database is PGlite, or
 * PostgreSQL with BENCH_DATABASE_URL. The budget is one Vercel cron invocation: 300 s.
 *
 * Top-up: 100,000 active keys; all but BENCH_CRON_NEEDY (100) wallets hold more than the low-water
 * mark, the others nothing, so the run reads every wallet and funds the few. Sweep: 100,000 revoked
 * keys, all but 100 of them with empty wallets (marked swept without a transaction), 100 holding
 * USDC and SOL (swept back). Next to them, in the same run: 1,000 wallets read one by one (two
 * requests a wallet, the crons' reads before this section existed) and in batches.
 */
import { randomBytes } from "node:crypto";
import { Keypair, PublicKey } from "@solana/web3.js";
import { NextRequest } from "next/server";
import { GET as sweepRoute } from "@/app/api/cron/sweep-wallets/route";
import { GET as topUpRoute } from "@/app/api/cron/treasury-topup/route";
import { MarketplaceClient } from "@/lib/agents/marketplace-client";
import { setAppContext, type AppContext } from "@/lib/context";
import { sealKeypair } from "@/lib/crypto/wallet-keys";
import { parseEnv } from "@/lib/env";
import { MemoryRateLimiter } from "@/lib/ratelimit/memory";
import { ensureEmbeddedTreasury } from "@/lib/solana/treasury";
import { LocalnetLedger, startRpcProcess } from "../localnet";
import { benchBackends, type BenchDatabase, type Sql } from "./databases";

/** PostgreSQL when BENCH_DATABASE_URL is set (the production shape's database), else PGlite. */
async function openDatabase(): Promise<BenchDatabase & { name: string }> {
  const backend = benchBackends().at(-1)!;
  return { ...(await backend.open()), name: backend.name };
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

async function timed<T>(work: () => Promise<T>): Promise<[number, T]> {
  const start = performance.now();
  const result = await work();
  return [performance.now() - start, result];
}

/** Keys inserted in bulk (a wallet each), spread over the accounts; returns their ids in order. */
async function insertKeys(
  sql: Sql,
  accounts: string[],
  wallets: { publicKey: string; secretEncrypted: string }[],
  status: "active" | "revoked",
): Promise<void> {
  for (let i = 0; i < wallets.length; i += 5_000) {
    const chunk = wallets.slice(i, i + 5_000);
    await sql(
      `insert into tdk_api_keys (account_id, name, key_hash, key_prefix, wallet_public_key, wallet_secret_encrypted, status, revoked_at)
       select a, 'bench', h, 'tk_live_bench', w, s, $5::tdk_key_status, case when $5 = 'revoked' then now() end
         from unnest($1::uuid[], $2::text[], $3::text[], $4::text[]) as t(a, h, w, s)`,
      [
        chunk.map((_, j) => accounts[(i + j) % accounts.length]),
        chunk.map(() => randomBytes(32).toString("hex")),
        chunk.map((wallet) => wallet.publicKey),
        chunk.map((wallet) => wallet.secretEncrypted),
        status,
      ],
    );
  }
}

export async function benchCrons(): Promise<void> {
  const WALLETS = Number(process.env.BENCH_CRON_WALLETS ?? 100_000);
  const NEEDY = Number(process.env.BENCH_CRON_NEEDY ?? 100);
  const database = await openDatabase();
  console.log(
    `\n## 10. The top-up and sweep crons over ${WALLETS.toLocaleString("en-US")} wallets each (their routes in process; RpcLedger → the local cluster process; ${database.name})`,
  );
  const rpc = await startRpcProcess();
  const cronSecret = randomBytes(16).toString("hex");
  try {
    // The crons never call the marketplace: an address where nothing answers.
    const protocolWallet = Keypair.generate().publicKey;
    const env = parseEnv({
      NODE_ENV: "test",
      WALLET_ENCRYPTION_KEY: randomBytes(32).toString("hex"),
      SOLANA_RPC_URL: rpc.url,
      USDC_MINT: rpc.usdcMint,
      TETTO_API_URL: "http://127.0.0.1:9",
      TETTO_PROTOCOL_WALLET: protocolWallet.toBase58(),
      CRON_SECRET: cronSecret,
    });
    const ledger = new LocalnetLedger(rpc.url, rpc.usdcMint);
    const agents = { client: new MarketplaceClient("http://127.0.0.1:9"), protocolWallet, local: null };
    const app: AppContext = { env, db: database.db, ledger, ring: env.encryption!, limiter: new MemoryRateLimiter(), agents, stripe: null };
    setAppContext(app);
    const treasury = await ensureEmbeddedTreasury(database.db, app.ring, ledger, env.treasuryFloat);
    await ledger.fund(treasury.publicKey, BigInt(NEEDY) * env.topup.targetUsdcMicro, BigInt(NEEDY) * env.funding.initialSolLamports);

    // One pro account per wallet that needs a top-up, so that no account's daily cap is what is measured.
    const accounts = (
      await database.sql(
        `insert into tdk_accounts (email, password_hash, tier) select 'cron-bench-' || g || '@example.com', '$2a$10$' || repeat('x', 53), 'pro' from generate_series(1, $1) g returning id`,
        [Math.max(NEEDY, 1)],
      )
    ).rows.map((row) => String(row.id));
    const unopened = sealKeypair(app.ring, Keypair.generate()).secretEncrypted;
    const randomWallets = (count: number) =>
      Array.from({ length: count }, () => ({ publicKey: new PublicKey(randomBytes(32)).toBase58(), secretEncrypted: unopened }));

    // Top-up: WALLETS active keys, all but NEEDY stocked above the low-water mark.
    const active = randomWallets(WALLETS);
    const [insertMs] = await timed(() => insertKeys(database.sql, accounts, active, "active"));
    // As autovacuum would after a table grew: with the statistics of an empty table, PostgreSQL
    // pages through the keys with a nested loop that scans every remaining key for each page.
    await database.sql("analyze tdk_api_keys");
    await database.sql("analyze tdk_accounts");
    const stocked = active.slice(NEEDY).map((wallet) => new PublicKey(wallet.publicKey));
    // Half the SOL target: the least the cron leaves alone (100,000 × 0.01 SOL would outrun the local faucet's 1,000 SOL).
    const [stockMs, transactions] = await timed(() =>
      ledger.fundMany(stocked, env.topup.lowWaterUsdcMicro * 2n, env.funding.initialSolLamports / 2n),
    );
    console.log(
      `setup: ${WALLETS.toLocaleString("en-US")} keys inserted in ${seconds(insertMs)}; ${stocked.length.toLocaleString("en-US")} wallets stocked on the chain in ${seconds(stockMs)} (${transactions.toLocaleString("en-US")} transactions)`,
    );

    // Side by side: the same 1,000 wallets read one by one (2 requests each) and in batches (50 a request).
    const sample = stocked.slice(0, 1_000);
    const [oneByOneMs] = await timed(() =>
      Promise.all(sample.map(async (wallet) => [await ledger.getUsdcAccount(wallet), await ledger.getSolBalance(wallet)])),
    );
    const [batchedMs] = await timed(() => ledger.getWalletBalances(sample));
    console.log(
      `reading 1,000 wallets: one by one ${seconds(oneByOneMs)} (2,000 requests; × ${WALLETS / 1_000} = ${seconds((oneByOneMs * WALLETS) / 1_000)} for all) · batched ${seconds(batchedMs)} (20 getMultipleAccounts requests)`,
    );

    const cron = (route: (request: NextRequest, context: { params: Promise<Record<string, never>> }) => Promise<Response>, path: string) =>
      timed(async () => {
        const response = await route(new NextRequest(`http://localhost${path}`, { headers: { authorization: `Bearer ${cronSecret}` } }), {
          params: Promise.resolve({}),
        });
        const body = (await response.json()) as Record<string, unknown>;
        if (response.status !== 200 || body.ok !== true)
          throw new Error(`${path} answered ${response.status}: ${JSON.stringify(body).slice(0, 500)}`);
        return body;
      });
    const [topUpMs, topUp] = await cron(topUpRoute, "/api/cron/treasury-topup");
    console.log(
      `treasury-topup: ${seconds(topUpMs)} (budget 300 s) — checked ${topUp.checked}, below low water ${topUp.below_low_water}, funded ${topUp.funded} in ${topUp.transactions} transactions, failed ${topUp.failed}, skipped ${(topUp.skipped as unknown[]).length}`,
    );

    // Sweep: WALLETS revoked keys, NEEDY of them holding USDC and SOL (real keypairs: the sweep signs with them).
    const holders = Array.from({ length: NEEDY }, () => Keypair.generate());
    const revoked = [...holders.map((keypair) => sealKeypair(app.ring, keypair)), ...randomWallets(WALLETS - NEEDY)];
    await insertKeys(database.sql, accounts, revoked, "revoked");
    await database.sql("analyze tdk_api_keys");
    await ledger.fundMany(
      holders.map((keypair) => keypair.publicKey),
      1_000_000n,
      env.funding.initialSolLamports,
    );
    const [sweepMs, sweep] = await cron(sweepRoute, "/api/cron/sweep-wallets");
    console.log(
      `sweep-wallets: ${seconds(sweepMs)} (budget 300 s) — checked ${sweep.checked}, swept ${sweep.swept} in ${sweep.transactions} transactions, empty ${sweep.empty}, failed ${sweep.failed}, skipped ${(sweep.skipped as unknown[]).length}`,
    );
  } finally {
    setAppContext(null);
    await rpc.stop();
    await database.close();
  }
}
