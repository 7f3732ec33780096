import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PublicKey } from "@solana/web3.js";
import { z } from "zod";
import * as topupCron from "@/app/api/cron/treasury-topup/route";
import * as resetCron from "@/app/api/cron/reset-monthly/route";
import * as recoverCron from "@/app/api/cron/recover-calls/route";
import * as reportCron from "@/app/api/cron/report-usage/route";
import * as sweepCron from "@/app/api/cron/sweep-wallets/route";
import * as health from "@/app/api/health/route";
import type { AppContext } from "@/lib/context";
import { setAppContext } from "@/lib/context";
import { callFunction } from "@/lib/db";
import { fundWallets, listFundings, type FundingStep } from "@/lib/solana/funding";
import { loadTreasury } from "@/lib/solana/treasury";
import { callRoute, createKeyedAccount, createTestApp, expireBlockhashes, faucetOf, sql } from "../helpers/app";
import { servicesFor } from "@/lib/services";
import { type AlertWebhook, startAlertWebhook } from "../helpers/alert-webhook";

const CRON_SECRET = "cron-secret-for-ops-tests-0123";
const cron = (handler: typeof topupCron.GET, secret: string | null = CRON_SECRET) =>
  callRoute(handler, "GET", "/api/cron/x", secret ? { bearer: secret } : {});

/** The operator's alert webhook. */
let webhook: AlertWebhook;
beforeAll(async () => {
  webhook = await startAlertWebhook();
});
afterAll(() => webhook?.close());

async function appWith(env: Record<string, string>) {
  return createTestApp({ env: { CRON_SECRET, ALERT_WEBHOOK_URL: webhook.url, ...env } });
}

describe("cron authentication", () => {
  it("every cron route refuses a missing or wrong secret with 401 and runs with the right one", async () => {
    await appWith({});
    for (const handler of [topupCron.GET, resetCron.GET, recoverCron.GET, reportCron.GET, sweepCron.GET]) {
      expect((await cron(handler, null)).status).toBe(401);
      expect((await cron(handler, "not-the-cron-secret-0000000")).status).toBe(401);
      const ok = await cron(handler);
      expect(ok.status, ok.text).toBe(200);
      expect(ok.text.includes("\n")).toBe(false);
    }
  });

  it("refuses everything when no CRON_SECRET is configured", async () => {
    const app = await createTestApp();
    expect(app.env.cronSecret).toBeNull();
    expect((await cron(resetCron.GET)).status).toBe(401);
  });
});

describe("GET /api/cron/treasury-topup", () => {
  let app: AppContext;
  beforeAll(async () => {
    // Keys start with 1 USDC (under the 2 USDC low-water mark); the target is 5 USDC; a key may get 6 USDC a day.
    app = await appWith({
      WALLET_INITIAL_USDC_MICRO: "1000000",
      TOPUP_TARGET_USDC_MICRO: "5000000",
      FUNDING_CAP_FREE_KEY_DAILY_USDC_MICRO: "6000000",
      FUNDING_CAP_FREE_ACCOUNT_DAILY_USDC_MICRO: "100000000",
    });
  });

  /** A top-up of 4 USDC through the funding path, stopped by a crash after `at`. */
  async function crashedTopUp(keyId: string, wallet: PublicKey, at: FundingStep) {
    const deps = {
      ...(await servicesFor(app).funding.deps())!,
      afterStep: (step: FundingStep) => {
        if (step === at) throw new Error(`crash after ${step}`);
      },
    };
    await expect(
      fundWallets(deps, [{ keyId, wallet, reason: "topup", usdcMicro: 4_000_000n, solLamports: 0n, usdcAccountExists: true }]),
    ).rejects.toThrow("crash");
  }

  it("refills every wallet under the low-water mark to the target, several per transaction, the treasury paying", async () => {
    const keys = await Promise.all(Array.from({ length: 5 }, () => createKeyedAccount(app)));
    const full = await createKeyedAccount(app);
    await faucetOf(app).fund(new PublicKey(full.key.wallet.public_key), 9_000_000n, 0n);
    const treasury = (await loadTreasury(app.db, app.ring))!;
    const treasuryBefore = await app.ledger.getUsdcBalance(treasury.publicKey);

    const res = await cron(topupCron.GET);
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ ok: true, funded: 5, funded_usdc_micro: 20_000_000, transactions: 2, failed: 0, skipped: [] });
    for (const key of keys) expect(await app.ledger.getUsdcBalance(new PublicKey(key.key.wallet.public_key))).toBe(5_000_000n);
    expect(await app.ledger.getUsdcBalance(new PublicKey(full.key.wallet.public_key))).toBe(10_000_000n);
    expect(await app.ledger.getUsdcBalance(treasury.publicKey)).toBe(treasuryBefore - 20_000_000n);
    const signatures = new Set(
      (await Promise.all(keys.map((key) => listFundings(app.db, key.key.id)))).map((rows) => rows.at(-1)!.tx_signature),
    );
    expect(signatures.size).toBe(2);

    // Nothing under the mark any more: the next run sends nothing.
    expect((await cron(topupCron.GET)).json).toMatchObject({ funded: 0, transactions: 0 });
  });

  it("cuts a top-up to what the key's daily cap leaves, then skips and reports the key at its cap", async () => {
    const key = await createKeyedAccount(app);
    const wallet = new PublicKey(key.key.wallet.public_key);
    expect((await cron(topupCron.GET)).json.funded).toBe(1); // 4 USDC of the 6 USDC cap
    // Spend it down again (moved to a stranger): it needs 4.5 USDC, and 1 USDC is left under the cap.
    const { Keypair } = await import("@solana/web3.js");
    const { createTransferCheckedInstruction, getAssociatedTokenAddressSync, createAssociatedTokenAccountIdempotentInstruction } =
      await import("@solana/spl-token");
    const { openKeypair } = await import("@/lib/crypto/wallet-keys");
    const secret = await callFunction(
      app.db,
      "tdk_get_wallet_secret",
      { p_key_id: key.key.id },
      z.object({ public_key: z.string(), secret_encrypted: z.string() }),
    );
    const owner = openKeypair(app.ring, secret.secret_encrypted, secret.public_key);
    const stranger = Keypair.generate().publicKey;
    const mint = app.ledger.usdcMint;
    const { Transaction } = await import("@solana/web3.js");
    const tx = new Transaction({ feePayer: owner.publicKey, ...(await app.ledger.latestBlockhash()) }).add(
      createAssociatedTokenAccountIdempotentInstruction(owner.publicKey, getAssociatedTokenAddressSync(mint, stranger), stranger, mint),
      createTransferCheckedInstruction(
        getAssociatedTokenAddressSync(mint, wallet),
        mint,
        getAssociatedTokenAddressSync(mint, stranger),
        owner.publicKey,
        4_500_000n,
        6,
      ),
    );
    tx.sign(owner);
    await app.ledger.sendTransaction(tx);

    const cut = await cron(topupCron.GET);
    expect(cut.json).toMatchObject({ funded: 1, funded_usdc_micro: 1_000_000, skipped: [] });
    expect(await app.ledger.getUsdcBalance(wallet)).toBe(1_500_000n);

    // Still under the low-water mark, and nothing left under the cap today.
    const res = await cron(topupCron.GET);
    expect(res.json.skipped).toEqual([{ key_id: key.key.id, code: "key_cap_reached" }]);
    expect(await app.ledger.getUsdcBalance(wallet)).toBe(1_500_000n);
    const today = await listFundings(app.db, key.key.id);
    expect(today.filter((row) => row.status === "confirmed").reduce((sum, row) => sum + row.usdc_micro, 0)).toBe(6_000_000);
  });

  it("a crash between signing a funding and sending it: resolved from the chain, never sent twice", async () => {
    const key = await createKeyedAccount(app);
    const wallet = new PublicKey(key.key.wallet.public_key);
    await crashedTopUp(key.key.id, wallet, "signed");
    // While the recorded transaction could still land, the key is left alone.
    const waiting = await cron(topupCron.GET);
    expect(waiting.json.skipped).toContainEqual({ key_id: key.key.id, code: "funding_in_flight" });
    expect(await app.ledger.getUsdcBalance(wallet)).toBe(1_000_000n);
    // Once it can no longer land, it is failed and the wallet is funded by a new transaction.
    await expireBlockhashes(app);
    const resumed = await cron(topupCron.GET);
    expect(resumed.json.resolved_pending).toBeGreaterThanOrEqual(1);
    expect(await app.ledger.getUsdcBalance(wallet)).toBe(5_000_000n);
    const rows = await listFundings(app.db, key.key.id);
    expect(rows.map((row) => [row.reason, row.status])).toEqual([
      ["initial", "confirmed"],
      ["topup", "failed"],
      ["topup", "confirmed"],
    ]);
    expect(await app.ledger.getSignatureStatus(rows[1]!.tx_signature!)).toBe("unknown");
  });

  it("a crash after sending: the pending funding is confirmed from the chain", async () => {
    const key = await createKeyedAccount(app);
    const wallet = new PublicKey(key.key.wallet.public_key);
    await crashedTopUp(key.key.id, wallet, "sent");
    const res = await cron(topupCron.GET);
    expect(res.json.resolved_pending).toBeGreaterThanOrEqual(1);
    expect(await app.ledger.getUsdcBalance(wallet)).toBe(5_000_000n);
    expect((await listFundings(app.db, key.key.id)).map((row) => row.status)).toEqual(["confirmed", "confirmed"]);
  });
});

describe("treasury health", () => {
  it("alerts (log, webhook, /api/health) when the treasury falls under 20% of its float", async () => {
    // The embedded treasury is stocked to its float at start; a float 10× larger makes it 10%.
    const app = await appWith({});
    const healthy = await callRoute(health.GET, "GET", "/api/health", { bearer: CRON_SECRET });
    expect(healthy.json).toMatchObject({
      status: "ok",
      treasury: { status: "ok", low: [] },
      database: { status: "ok" },
      ledger: { status: "ok" },
      stripe: { status: "off" },
    });
    webhook.received.length = 0;
    // A new context (health is cached 30 s per context) with a float 10× larger.
    const bigger = {
      ...app,
      env: {
        ...app.env,
        treasuryFloat: { usdcMicro: app.env.treasuryFloat.usdcMicro * 10n, solLamports: app.env.treasuryFloat.solLamports },
      },
    };
    setAppContext(bigger);
    const low = await callRoute(health.GET, "GET", "/api/health", { bearer: CRON_SECRET });
    expect(low.status).toBe(200);
    expect(low.json).toMatchObject({ status: "warning", treasury: { status: "low", low: ["usdc"] } });
    expect(low.json.treasury.alert).toMatch(/under 20%/);

    const res = await cron(topupCron.GET);
    expect(res.json.treasury.status).toBe("low");
    expect(webhook.received).toHaveLength(1);
    expect(webhook.received[0]).toMatchObject({ source: "tdk-gateway", kind: "treasury_low", details: { low: ["usdc"] } });
  });
});

describe("GET /api/cron/reset-monthly", () => {
  it("resets last month's counters once", async () => {
    const app = await appWith({});
    const caller = await createKeyedAccount(app);
    await sql(
      app.db,
      "update tdk_accounts set ops_this_month = 42, ops_month = (date_trunc('month', now()) - interval '1 month')::date where id = $1",
      [caller.accountId],
    );
    const first = await cron(resetCron.GET);
    expect(first.json.accounts_reset).toBeGreaterThanOrEqual(1);
    const row = (
      await sql<any>(app.db, "select ops_this_month, ops_month::text as month from tdk_accounts where id = $1", [caller.accountId])
    )[0];
    expect(row.ops_this_month).toBe(0);
    expect(row.month).toBe(first.json.month);
    expect((await cron(resetCron.GET)).json.accounts_reset).toBe(0);
  });
});
