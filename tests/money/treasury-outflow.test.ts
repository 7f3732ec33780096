import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PublicKey } from "@solana/web3.js";
import { z } from "zod";
import * as sweepCron from "@/app/api/cron/sweep-wallets/route";
import * as generate from "@/app/api/tdk/keys/generate/route";
import * as one from "@/app/api/tdk/keys/[id]/route";
import * as call from "@/app/api/tdk/v1/call/route";
import * as login from "@/app/api/tdk/auth/login/route";
import * as register from "@/app/api/tdk/auth/register/route";
import { demoAgents, type LocalAgentDefinition } from "@/lib/agents/demo-agents";
import type { AppContext } from "@/lib/context";
import { callFunction } from "@/lib/db";
import { reconcile } from "@/lib/ops/reconcile";
import { loadTreasury } from "@/lib/solana/treasury";
import { callRoute, createKeyedAccount, createTestApp, sql, strongPassword, uniqueEmail } from "../helpers/app";
import { concurrencyBackends } from "../helpers/postgres";

/**
 * Attacks on the treasury's outflow, replayed and stopped, on PGlite and on the real PostgreSQL:
 * key churn by a free account (every funding counted and capped, revoked wallets swept back to
 * the micro-dollar), and the other way round, a pro account that must be able to spend far more
 * than $50 a day.
 */
const CRON_SECRET = "cron-secret-for-money-tests-0123";

/** A $1.00 agent: the most the gateway pays for one call by default. */
const premiumAgent: LocalAgentDefinition = {
  id: "6a1e2f3b-4c5d-4e6f-8a9b-0c1d2e3f4a55",
  name: "premium",
  description: "Priced at the gateway's maximum.",
  priceMicro: 1_000_000n,
  feeBps: 1_000,
  inputSchema: z.object({ text: z.string() }).strict(),
  outputSchema: z.object({ length: z.number() }),
  async handle(input) {
    return { length: (input as { text: string }).text.length };
  },
};

describe.each(concurrencyBackends())("treasury outflow on $name", (backend) => {
  let app: AppContext;
  let close: () => Promise<void>;
  beforeAll(async () => {
    const opened = await backend.open();
    close = opened.close;
    app = await createTestApp({ db: opened.db, env: { CRON_SECRET }, agents: [...demoAgents(), premiumAgent] });
  });
  afterAll(async () => close?.());

  async function treasuryBalances() {
    const treasury = (await loadTreasury(app.db, app.ring))!.publicKey;
    return { usdc: await app.ledger.getUsdcBalance(treasury), sol: await app.ledger.getSolBalance(treasury) };
  }

  async function fundingTotals(accountId: string) {
    const rows = await sql<{ reason: string; usdc: string; sol: string; overhead: string }>(
      app.db,
      `select reason::text, coalesce(sum(usdc_micro), 0)::text as usdc, coalesce(sum(sol_lamports), 0)::text as sol, coalesce(sum(overhead_lamports), 0)::text as overhead
         from tdk_wallet_fundings where account_id = $1 and status = 'confirmed' group by reason`,
      [accountId],
    );
    const by = (reason: string) => rows.find((row) => row.reason === reason);
    const out = ["initial", "topup"].map(by).filter((row) => row !== undefined);
    const sweep = by("sweep");
    return {
      outUsdc: out.reduce((sum, row) => sum + BigInt(row.usdc), 0n),
      outSol: out.reduce((sum, row) => sum + BigInt(row.sol) + BigInt(row.overhead), 0n),
      sweptUsdc: BigInt(sweep?.usdc ?? 0),
      sweptSol: BigInt(sweep?.sol ?? 0) - BigInt(sweep?.overhead ?? 0),
    };
  }

  it("one free account creating and revoking 50 keys moves at most its daily cap; sweep-wallets brings every swept micro-dollar back", async () => {
    const email = uniqueEmail("churn");
    await callRoute(register.POST, "POST", "/", { body: { email, password: strongPassword } });
    const session = (await callRoute(login.POST, "POST", "/", { body: { email, password: strongPassword } })).json.session_token;
    const before = await treasuryBalances();

    const created: { id: string; wallet: string; funding: { status: string; reason?: string } }[] = [];
    const refused: string[] = [];
    for (let i = 0; i < 50; i += 1) {
      const res = await callRoute(generate.POST, "POST", "/", { bearer: session, body: { name: `churn ${i}` } });
      if (res.status !== 201) {
        refused.push(`${res.status} ${res.json.error.code}`);
        expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
        continue;
      }
      created.push({ id: res.json.key.id, wallet: res.json.key.wallet.public_key, funding: res.json.funding });
      expect((await callRoute(one.DELETE, "DELETE", "/", { bearer: session, params: { id: res.json.key.id } })).status).toBe(200);
    }
    // Key creation is limited per account per day (10 by default), revoked keys included...
    expect(created).toHaveLength(10);
    expect(new Set(refused)).toEqual(new Set(["429 key_daily_limit_reached"]));
    // ...and every funding counts in the caps: $10 asked for, $5 a day for a free account, so one key is funded.
    expect(created.map((key) => key.funding.status)).toEqual(["confirmed", ...Array(9).fill("not_funded")]);
    expect(created.slice(1).every((key) => key.funding.reason === "account_cap_reached")).toBe(true);

    const afterChurn = await treasuryBalances();
    const accountId = (await sql<{ account_id: string }>(app.db, "select account_id from tdk_api_keys where id = $1", [created[0]!.id]))[0]!
      .account_id;
    const caps = app.env.limits.funding.tiers.free.accountDaily;
    expect(before.usdc - afterChurn.usdc).toBeLessThanOrEqual(caps.usdcMicro);
    expect(before.sol - afterChurn.sol).toBeLessThanOrEqual(caps.solLamports);
    // The fundings table is the ledger's outflow, to the micro-dollar and the lamport.
    const churned = await fundingTotals(accountId);
    expect(before.usdc - afterChurn.usdc).toBe(churned.outUsdc);
    expect(before.sol - afterChurn.sol).toBe(churned.outSol);

    // The sweep cron empties every revoked wallet back into the treasury.
    const swept = await callRoute(sweepCron.GET, "GET", "/api/cron/sweep-wallets", { bearer: CRON_SECRET });
    expect(swept.status, swept.text).toBe(200);
    // One wallet held something (a transaction sweeps it); nine were never funded (marked swept, no transaction).
    expect(swept.json).toMatchObject({ ok: true, swept: 1, empty: 9, failed: 0, swept_usdc_micro: Number(churned.outUsdc) });
    for (const key of created) {
      const wallet = new PublicKey(key.wallet);
      expect(await app.ledger.getUsdcAccount(wallet)).toEqual({ exists: false, amount: 0n, lamports: 0n });
      expect(await app.ledger.getSolBalance(wallet)).toBe(0n);
    }
    const afterSweep = await treasuryBalances();
    const totals = await fundingTotals(accountId);
    expect(afterSweep.usdc - afterChurn.usdc).toBe(totals.sweptUsdc);
    expect(afterSweep.usdc).toBe(before.usdc);
    expect(afterSweep.sol - afterChurn.sol).toBe(totals.sweptSol);
    // What the treasury is short of in the end is the fees it paid, nothing else.
    const fees = (
      await sql<{ fees: string }>(
        app.db,
        "select coalesce(sum(overhead_lamports), 0)::text as fees from tdk_wallet_fundings where account_id = $1 and status = 'confirmed'",
        [accountId],
      )
    )[0]!;
    const rentCreated = 2_039_280n; // the one USDC account created, and closed by its sweep
    expect(before.sol - afterSweep.sol).toBe(BigInt(fees.fees) - rentCreated);

    // A second run finds nothing left; reconciliation finds the sweeps on the chain and the wallets empty.
    expect((await callRoute(sweepCron.GET, "GET", "/", { bearer: CRON_SECRET })).json).toMatchObject({ checked: 0, swept: 0 });
    const report = await reconcile(app.db, app.ledger, { from: new Date(Date.now() - 3_600_000), to: new Date(Date.now() + 60_000) });
    expect(
      report.differences.filter((difference) => difference.kind.startsWith("funding") || difference.kind === "swept_wallet_not_empty"),
    ).toEqual([]);
    expect(report.swept_usdc_micro).toBeGreaterThanOrEqual(Number(totals.sweptUsdc));
  }, 180_000);

  it("a revoked wallet with a call still in flight is not swept until the call settles", async () => {
    const { accountId, apiKey, key } = await createKeyedAccount(app, { tier: "paid" });
    const usage = await callRoute(call.POST, "POST", "/", {
      bearer: apiKey,
      body: { agent_id: "warmmemory", input: { action: "store", key: "k", value: "v" } },
    });
    expect(usage.status).toBe(200);
    // A pending row as a crash would leave it.
    await sql(
      app.db,
      "insert into tdk_usage (request_id, api_key_id, account_id, agent_id, agent_cost_micro, markup_bps, developer_cost_micro, tier) values ($1, $2, $3, 'warmmemory', 1000, 5000, 1500, 'paid')",
      [`req_inflight_${key.id}`, key.id, accountId],
    );
    await callFunction(app.db, "tdk_revoke_api_key", { p_account_id: accountId, p_key_id: key.id }, z.unknown());
    const first = await callRoute(sweepCron.GET, "GET", "/", { bearer: CRON_SECRET });
    expect(first.json.swept).toBe(0);
    expect(await app.ledger.getUsdcBalance(new PublicKey(key.wallet.public_key))).toBeGreaterThan(0n);
    await sql(app.db, "update tdk_usage set status = 'failed', settled_at = now() where request_id = $1", [`req_inflight_${key.id}`]);
    const second = await callRoute(sweepCron.GET, "GET", "/", { bearer: CRON_SECRET });
    expect(second.json.swept).toBe(1);
    expect(await app.ledger.getUsdcBalance(new PublicKey(key.wallet.public_key))).toBe(0n);
  });

  it("a pro account spends more than $50 in a day through top-ups", async () => {
    const { apiKey, key } = await createKeyedAccount(app, { tier: "pro" });
    const wallet = new PublicKey(key.wallet.public_key);
    let paid = 0n;
    for (let i = 0; i < 55; i += 1) {
      const res = await callRoute(call.POST, "POST", "/", { bearer: apiKey, body: { agent_id: "premium", input: { text: `call ${i}` } } });
      expect(res.status, res.text).toBe(200);
      paid += BigInt(res.json.usage.agent_cost_micro);
    }
    expect(paid).toBe(55_000_000n);
    const fundings = await sql<{ reason: string; status: string; usdc: string }>(
      app.db,
      "select reason::text, status::text, usdc_micro::text as usdc from tdk_wallet_fundings where api_key_id = $1 order by created_at",
      [key.id],
    );
    expect(fundings.every((row) => row.status === "confirmed")).toBe(true);
    const toppedUp = fundings.filter((row) => row.reason === "topup").reduce((sum, row) => sum + BigInt(row.usdc), 0n);
    const funded = fundings.reduce((sum, row) => sum + BigInt(row.usdc), 0n);
    expect(funded).toBeGreaterThan(50_000_000n);
    expect(toppedUp).toBeGreaterThan(40_000_000n);
    // Chain and fundings agree: what came in, less what the 55 calls paid, is what the wallet holds.
    expect(await app.ledger.getUsdcBalance(wallet)).toBe(funded - paid);
  }, 120_000);
});
