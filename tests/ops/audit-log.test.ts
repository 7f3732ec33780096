import { PublicKey } from "@solana/web3.js";
import { beforeAll, describe, expect, it } from "vitest";
import * as audit from "@/app/api/tdk/account/audit/route";
import * as login from "@/app/api/tdk/auth/login/route";
import * as sweepCron from "@/app/api/cron/sweep-wallets/route";
import * as keyRoute from "@/app/api/tdk/keys/[id]/route";
import * as rotate from "@/app/api/tdk/keys/[id]/rotate/route";
import type { AppContext } from "@/lib/context";
import { setBillingSuspension } from "@/lib/billing/billing-store";
import { auditEntries } from "@/lib/ops/ops-store";
import { verifyApiKey } from "@/lib/keys/keys";
import { servicesFor } from "@/lib/services";
import { callRoute, createKeyedAccount, createTestApp, paidCallAnswer, sql, strongPassword } from "../helpers/app";

const CRON_SECRET = "cron-secret-for-the-audit-log-test";
let app: AppContext;

beforeAll(async () => {
  app = await createTestApp({ env: { CRON_SECRET } });
});

async function sessionOf(email: string): Promise<string> {
  return (await callRoute(login.POST, "POST", "/", { body: { email, password: strongPassword } })).json.session_token;
}

describe("the audit log", () => {
  it("records every key created, rotated, limited and revoked, every suspension and lift, every sweep: who, what, before and after", async () => {
    const caller = await createKeyedAccount(app, { label: "audit" });
    const session = await sessionOf(caller.email);
    const id = caller.key.id;
    await callRoute(keyRoute.PATCH, "PATCH", "/", {
      bearer: session,
      params: { id },
      body: { spend_limit_usd: "2", spend_limit_period: "week" },
    });
    const rotated = await callRoute(rotate.POST, "POST", "/", { bearer: session, params: { id }, body: { grace_period_hours: 0 } });
    await sql(app.db, "update tdk_accounts set stripe_customer_id = 'cus_audit' where id = $1", [caller.accountId]);
    await setBillingSuspension(app.db, "cus_audit", "payment_failed", true);
    await setBillingSuspension(app.db, "cus_audit", "payment_failed", false);
    await callRoute(keyRoute.DELETE, "DELETE", "/", { bearer: session, params: { id } });
    expect((await callRoute(sweepCron.GET, "GET", "/", { bearer: CRON_SECRET })).status).toBe(200);

    const res = await callRoute(audit.GET, "GET", "/api/tdk/account/audit", { bearer: session });
    expect(res.status, res.text).toBe(200);
    const entries = [...res.json.entries].reverse() as { action: string; actor: string; target_id: string; before: any; after: any }[];
    const developer = `account:${caller.accountId}`;
    expect(entries.map((entry) => [entry.action, entry.actor])).toEqual([
      ["key.created", developer],
      ["key.spend_limit_changed", developer],
      ["key.rotated", developer],
      ["account.suspended", "stripe"],
      ["account.suspension_lifted", "stripe"],
      ["key.revoked", developer],
      ["wallet.swept", "system"],
      ["wallet.swept", "system"],
    ]);
    expect(entries[1]).toMatchObject({ before: { limit_micro: null, period: null }, after: { limit_micro: 2_000_000, period: "week" } });
    expect(entries[2]).toMatchObject({
      before: { prefix: caller.apiKey.slice(0, 12) },
      after: { prefix: rotated.json.api_key.slice(0, 12) },
    });
    expect(entries[3]).toMatchObject({ before: { suspended_reason: null }, after: { suspended_reason: "payment_failed" } });
    expect(entries[5]).toMatchObject({ target_id: id, before: { status: "active" }, after: { status: "revoked" } });
    // The sweep moved the wallet's USDC back: its amount is in the log, and the chain agrees.
    const swept = entries.find((entry) => entry.action === "wallet.swept" && entry.after.usdc_micro !== undefined)!;
    expect(swept.target_id).toBe(caller.key.wallet.public_key);
    expect(swept.after.usdc_micro).toBeGreaterThan(0);
    expect(await app.ledger.getUsdcBalance(new PublicKey(caller.key.wallet.public_key))).toBe(0n);
    // Nothing secret: no key, no hash, no ciphertext.
    const text = JSON.stringify(res.json);
    expect(text).not.toContain(caller.apiKey);
    expect(text).not.toContain(rotated.json.api_key);
    expect(text).not.toMatch(/key_hash|tdkenc|secret_encrypted/);
  });

  it("leaves out what moves only money counters (a paid call), and still logs a change made in the same statement as one", async () => {
    const caller = await createKeyedAccount(app, { label: "audit-counters" });
    const actions = async () =>
      (await sql<{ action: string }>(app.db, "select action from tdk_audit_log where account_id = $1 order by id", [caller.accountId])).map(
        (row) => row.action,
      );
    expect(await actions()).toEqual(["key.created"]);
    const verified = await verifyApiKey(app.db, caller.apiKey);
    if (!verified.ok) throw new Error(verified.code);
    const answer = await paidCallAnswer(servicesFor(app).calls.deps, verified.key, {
      requestId: "req_audit_counters",
      body: { agent_id: "warmmemory", input: { action: "store", key: "a", value: "b" } },
      idempotencyKey: null,
    });
    expect(answer.status).toBe(200);
    // The call reserved and settled on the key and the account: counters only, nothing to log.
    expect(await actions()).toEqual(["key.created"]);
    // A counter and an audited field in one statement: the audited change is logged.
    await sql(app.db, "update tdk_accounts set in_flight_micro = in_flight_micro + 1, tier = 'pro' where id = $1", [caller.accountId]);
    await sql(
      app.db,
      "update tdk_api_keys set reserved_usdc_micro = reserved_usdc_micro + 1, status = 'suspended', suspended_reason = 'payment_failed' where id = $1",
      [caller.key.id],
    );
    await sql(app.db, "update tdk_accounts set in_flight_micro = in_flight_micro - 1, deleted_at = now() where id = $1", [
      caller.accountId,
    ]);
    expect(await actions()).toEqual(["key.created", "account.tier_changed", "key.suspended", "account.deleted"]);
  });

  it("is append-only, and a developer sees only their own account's entries", async () => {
    const alice = await createKeyedAccount(app, { label: "audit-alice" });
    const bob = await createKeyedAccount(app, { label: "audit-bob" });
    for (const statement of ["update tdk_audit_log set actor = 'forged'", "delete from tdk_audit_log", "truncate tdk_audit_log"]) {
      await expect(sql(app.db, statement)).rejects.toThrow(/append-only/);
    }
    const seen = (await callRoute(audit.GET, "GET", "/", { bearer: await sessionOf(alice.email) })).json.entries as {
      account_id: string;
    }[];
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((entry) => entry.account_id === alice.accountId)).toBe(true);
    expect((await auditEntries(app.db, bob.accountId, null, 10)).every((entry) => entry.account_id === bob.accountId)).toBe(true);
    // Paging: newest first, and `before` continues where a page ended.
    const aliceSession = await sessionOf(alice.email);
    await callRoute(keyRoute.PATCH, "PATCH", "/", { bearer: aliceSession, params: { id: alice.key.id }, body: { spend_limit_usd: null } });
    await callRoute(keyRoute.PATCH, "PATCH", "/", {
      bearer: aliceSession,
      params: { id: alice.key.id },
      body: { spend_limit_usd: "1", spend_limit_period: "day" },
    });
    const first = await callRoute(audit.GET, "GET", "/api/tdk/account/audit?limit=1", { bearer: aliceSession });
    expect(first.json.entries.map((entry: { action: string }) => entry.action)).toEqual(["key.spend_limit_changed"]);
    expect(first.json.next_before).toBe(first.json.entries[0].id);
    const rest = await callRoute(audit.GET, "GET", `/api/tdk/account/audit?before=${first.json.next_before}`, { bearer: aliceSession });
    expect(rest.json.entries.map((entry: { action: string }) => entry.action)).toEqual(["key.created"]);
    expect(rest.json.next_before).toBeNull();
    const bad = await callRoute(audit.GET, "GET", "/api/tdk/account/audit?limit=0", { bearer: await sessionOf(alice.email) });
    expect(bad.status).toBe(400);
  });
});
