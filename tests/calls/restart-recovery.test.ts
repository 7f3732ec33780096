import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Keypair, PublicKey } from "@solana/web3.js";
import type { PipelineStep } from "@/lib/calls/paid-call";
import { recoverPendingCalls } from "@/lib/calls/recovery";
import { demoAgents } from "@/lib/agents/demo-agents";
import { LocalMarketplace } from "@/lib/agents/local-marketplace";
import { localMarketplaceAgents, setAppContext, type AppContext } from "@/lib/context";
import { verifyApiKey } from "@/lib/keys/keys";
import { moneyPolicy } from "@/lib/money/policy";
import { LocalLedger } from "@/lib/solana/local-ledger";
import { createKeyedAccount, createTestApp, paidCallAnswer, sql } from "../helpers/app";
import { servicesFor } from "@/lib/services";

/**
 * What a hostile tester found with `kill -9`: a call whose payment had landed, the process killed
 * before the call was settled, a restart, more traffic, then recovery — which settled it "failed,
 * never landed" because the restarted chain had forgotten the signature (LiteSVM keeps ~56) and
 * every blockhash. The embedded ledger now remembers its whole history and the blockhashes it
 * handed out, and "not paid" needs positive evidence.
 */
let dir: string;
let app: AppContext;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "tdk-restart-"));
  app = await createTestApp({ ledgerDir: dir });
});
afterAll(async () => {
  await (app.ledger as LocalLedger).close();
  await rm(dir, { recursive: true, force: true });
});

const store = (key: string) => ({ agent_id: "warmmemory", input: { action: "store", key, value: "v" } });

async function crashedCall(apiKey: string, crashAt: PipelineStep) {
  const verified = await verifyApiKey(app.db, apiKey);
  if (!verified.ok) throw new Error(verified.code);
  const deps = {
    ...servicesFor(app).calls.deps,
    afterStep: (step: PipelineStep) => {
      if (step === crashAt) throw new Error(`killed after ${step}`);
    },
  };
  await expect(
    paidCallAnswer(deps, verified.key, { requestId: `req_${crashAt}_${Date.now()}`, body: store(crashAt), idempotencyKey: null }),
  ).rejects.toThrow("killed");
}

/** The process dies; a new one opens the same ledger directory (and its marketplace runs on it). */
async function restartLedger(): Promise<LocalLedger> {
  await (app.ledger as LocalLedger).close();
  const reopened = await LocalLedger.open(dir);
  app = { ...app, ledger: reopened, agents: localMarketplaceAgents(await LocalMarketplace.create(reopened, demoAgents())) };
  setAppContext(app);
  return reopened;
}

async function rowOf(keyId: string) {
  return (
    await sql<{ status: string; tx_signature: string | null }>(
      app.db,
      "select status::text, tx_signature from tdk_usage where api_key_id = $1 order by created_at",
      [keyId],
    )
  ).at(-1)!;
}

describe("a landed payment, a crash before settlement, a restart, more than 56 transactions, recovery", () => {
  it("settles the call as paid (agent_failed, not billed), never as 'never landed'", async () => {
    const { apiKey, key } = await createKeyedAccount(app, { tier: "paid" });
    const wallet = new PublicKey(key.wallet.public_key);
    const before = await app.ledger.getUsdcBalance(wallet);
    await crashedCall(apiKey, "submitted");
    expect(before - (await app.ledger.getUsdcBalance(wallet))).toBe(1_000n);
    const pending = await rowOf(key.id);
    expect(pending.status).toBe("pending");

    const ledger = await restartLedger();
    // Traffic goes on after the restart: far more transactions than LiteSVM remembers.
    const stranger = Keypair.generate().publicKey;
    for (let i = 0; i < 80; i += 1) await ledger.fund(stranger, 1n, 0n);
    // And the chain moves on past the payment's blockhash.
    ledger.expireBlockhashes();

    const recovered = await recoverPendingCalls(
      { db: app.db, ledger, policy: moneyPolicy(app.env) },
      { keyId: key.id, olderThan: new Date(Date.now() + 1_000) },
    );
    expect(recovered).toEqual({ resolved: 1, pending: 0 });
    const settled = await rowOf(key.id);
    expect(settled).toEqual({ status: "agent_failed", tx_signature: pending.tx_signature });
    expect(await ledger.getSignatureStatus(pending.tx_signature!)).toBe("confirmed");
    // The wallet, the chain and the rows agree: one payment, recorded as paid.
    expect(
      (
        await sql<{ w: string; r: string }>(
          app.db,
          "select wallet_usdc_micro::text as w, reserved_usdc_micro::text as r from tdk_api_keys where id = $1",
          [key.id],
        )
      )[0],
    ).toEqual({
      w: String(before - 1_000n),
      r: "0",
    });
  });

  it("a payment signed but never sent stays pending across a restart while it could land, and fails only once the chain proves it cannot", async () => {
    const { apiKey, key } = await createKeyedAccount(app, { tier: "paid" });
    await crashedCall(apiKey, "signed");
    const ledger = await restartLedger();
    const deps = { db: app.db, ledger, policy: moneyPolicy(app.env) };
    // Its blockhash is remembered and still valid: no conclusion.
    expect(await recoverPendingCalls(deps, { keyId: key.id, olderThan: new Date(Date.now() + 1_000) })).toEqual({
      resolved: 0,
      pending: 1,
    });
    expect((await rowOf(key.id)).status).toBe("pending");
    ledger.expireBlockhashes();
    expect(await recoverPendingCalls(deps, { keyId: key.id, olderThan: new Date(Date.now() + 1_000) })).toEqual({
      resolved: 1,
      pending: 0,
    });
    expect((await rowOf(key.id)).status).toBe("failed");
  });

  it("a row with no recorded expiry is never concluded unpaid, and is alerted on once stale", async () => {
    const { apiKey, key } = await createKeyedAccount(app, { tier: "paid" });
    await crashedCall(apiKey, "signed");
    // As rows recorded before payments kept their expiry height.
    await sql(app.db, "update tdk_usage set last_valid_block_height = null, created_at = now() - interval '1 hour' where api_key_id = $1", [
      key.id,
    ]);
    (app.ledger as LocalLedger).expireBlockhashes();
    expect(
      await recoverPendingCalls({ db: app.db, ledger: app.ledger, policy: moneyPolicy(app.env) }, { keyId: key.id, olderThan: new Date() }),
    ).toEqual({ resolved: 0, pending: 1 });
    const { alertStalePending } = await import("@/lib/ops/stale-pending");
    const lines: string[] = [];
    const stale = await alertStalePending(app.db, { webhookUrl: null, log: (line) => lines.push(line) });
    expect(stale.calls).toBeGreaterThanOrEqual(1);
    expect(lines.join("\n")).toMatch(/ALERT pending_stale: \d+ calls .* pending for more than 10 minutes/);
  });
});
