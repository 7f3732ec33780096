import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PublicKey } from "@solana/web3.js";
import * as call from "@/app/api/tdk/v1/call/route";
import * as me from "@/app/api/tdk/v1/me/route";
import { setAppContext, type AppContext } from "@/lib/context";
import { generateApiKey } from "@/lib/keys/api-key";
import { servicesFor } from "@/lib/services";
import { callRoute, countingDatabase, createKeyedAccount, createTestApp, sql } from "../helpers/app";
import { concurrencyBackends } from "../helpers/postgres";

/**
 * The paid call route reuses a key's verification for a few seconds (issue 11); its
 * reservation checks the key again, under the key's lock. The attacker here holds a key that was
 * revoked, rotated away or suspended on another instance (whose change this process never saw):
 * within the reuse window they get a refusal worded as a fresh verification words it, and not one
 * micro-USD reserved or paid.
 */
describe.each(concurrencyBackends())("a paid call on a reused key verification, on $name", (backend) => {
  let app: AppContext;
  /** The database itself, for the test's own SQL (the context's is counted). */
  let raw: AppContext["db"];
  let close: () => Promise<void>;
  /** The SQL functions the gateway called, in order. */
  let called: string[];
  beforeAll(async () => {
    const opened = await backend.open();
    close = opened.close;
    const created = await createTestApp({ db: opened.db });
    raw = created.db;
    // The same context with its database counted: its services are built on it.
    const counted = countingDatabase(raw);
    called = counted.called;
    app = { ...created, db: counted.db };
    setAppContext(app);
  });
  afterAll(async () => close?.());

  const body = { agent_id: "textstats", input: { text: "one two" } };
  const verifications = () => called.filter((fn) => fn === "tdk_verify_api_key").length;
  const paid = (apiKey: string) => callRoute(call.POST, "POST", "/", { bearer: apiKey, body });

  async function moneyOf(caller: Awaited<ReturnType<typeof createKeyedAccount>>) {
    const [row] = await sql<{ rows: number; reserved: number }>(
      raw,
      `select (select count(*)::int from tdk_usage where api_key_id = k.id) as rows, k.reserved_usdc_micro::int as reserved
         from tdk_api_keys k where k.id = $1`,
      [caller.key.id],
    );
    return { ...row!, usdc: await app.ledger.getUsdcBalance(new PublicKey(caller.key.wallet.public_key)) };
  }

  it("verifies a key once for paid calls in quick succession; other routes verify every time", async () => {
    const caller = await createKeyedAccount(app, { label: "reuse" });
    const before = verifications();
    for (let i = 0; i < 3; i += 1) expect((await paid(caller.apiKey)).status).toBe(200);
    expect(verifications() - before).toBe(1);
    for (let i = 0; i < 2; i += 1) expect((await callRoute(me.GET, "GET", "/", { bearer: caller.apiKey })).status).toBe(200);
    expect(verifications() - before).toBe(3);
  });

  it("a key revoked on another instance: refused 401 by the reservation, nothing reserved or paid; then verified afresh", async () => {
    const caller = await createKeyedAccount(app, { label: "revoked-elsewhere" });
    expect((await paid(caller.apiKey)).status).toBe(200);
    const spent = await moneyOf(caller);
    await sql(raw, "select tdk_revoke_api_key($1, $2)", [caller.accountId, caller.key.id]);

    const before = verifications();
    const refused = await paid(caller.apiKey);
    expect(verifications()).toBe(before); // the reused verification let it through to the reservation
    expect(refused.status).toBe(401);
    expect(refused.json.error).toMatchObject({ code: "key_revoked", message: "This API key has been revoked." });
    expect(await moneyOf(caller)).toEqual(spent);

    // The refusal forgot it: the next request is verified, and refused there.
    const again = await paid(caller.apiKey);
    expect(verifications()).toBe(before + 1);
    expect(again.status).toBe(401);
    expect(again.json.error.code).toBe("key_revoked");
    expect(await moneyOf(caller)).toEqual(spent);
  });

  it("a secret rotated away on another instance (no grace): the old one pays nothing, the new one pays", async () => {
    const caller = await createKeyedAccount(app, { label: "rotated-elsewhere" });
    expect((await paid(caller.apiKey)).status).toBe(200);
    const spent = await moneyOf(caller);
    const next = generateApiKey("test");
    await sql(raw, "select tdk_rotate_api_key($1, $2, $3, $4, 0)", [caller.accountId, caller.key.id, next.hash, next.prefix]);

    const before = verifications();
    const old = await paid(caller.apiKey);
    expect(verifications()).toBe(before);
    expect(old.status).toBe(401);
    expect(old.json.error.code).toBe("key_revoked");
    expect(await moneyOf(caller)).toEqual(spent);
    const fresh = await paid(next.apiKey);
    expect(fresh.status, fresh.text).toBe(200);
    expect((await moneyOf(caller)).rows).toBe(spent.rows + 1);
  });

  it("with a grace period the old secret keeps paying until it ends, even on a reused verification", async () => {
    const caller = await createKeyedAccount(app, { label: "grace-elsewhere" });
    expect((await paid(caller.apiKey)).status).toBe(200);
    const next = generateApiKey("test");
    await sql(raw, "select tdk_rotate_api_key($1, $2, $3, $4, 3600)", [caller.accountId, caller.key.id, next.hash, next.prefix]);
    expect((await paid(caller.apiKey)).status).toBe(200);
    await sql(raw, "update tdk_api_keys set previous_key_expires_at = now() - interval '1 second' where id = $1", [caller.key.id]);
    const spent = await moneyOf(caller);
    const ended = await paid(caller.apiKey);
    expect(ended.status).toBe(401);
    expect(ended.json.error.code).toBe("key_revoked");
    expect(await moneyOf(caller)).toEqual(spent);
  });

  it("a key or an account suspended on another instance: 403 with the reason, as verification answers it, nothing paid", async () => {
    const key = await createKeyedAccount(app, { label: "key-suspended-elsewhere" });
    expect((await paid(key.apiKey)).status).toBe(200);
    const keySpent = await moneyOf(key);
    await sql(raw, "update tdk_api_keys set status = 'suspended', suspended_reason = 'payment_failed' where id = $1", [key.key.id]);
    const before = verifications();
    const keyRefused = await paid(key.apiKey);
    expect(verifications()).toBe(before);
    expect(keyRefused.status).toBe(403);
    expect(keyRefused.json.error).toMatchObject({ code: "key_suspended", reason: "payment_failed" });
    expect(await moneyOf(key)).toEqual(keySpent);

    const account = await createKeyedAccount(app, { label: "account-suspended-elsewhere" });
    expect((await paid(account.apiKey)).status).toBe(200);
    const accountSpent = await moneyOf(account);
    await sql(raw, "update tdk_accounts set suspended_reason = 'fraud_review', suspended_at = now() where id = $1", [account.accountId]);
    const accountRefused = await paid(account.apiKey);
    expect(accountRefused.status).toBe(403);
    expect(accountRefused.json.error).toMatchObject({ code: "account_suspended", reason: "fraud_review" });
    expect(await moneyOf(account)).toEqual(accountSpent);
  });

  it("an operator's override set on another instance holds from the next call, reused verification or not", async () => {
    const caller = await createKeyedAccount(app, { label: "override-elsewhere" });
    expect((await paid(caller.apiKey)).status).toBe(200);
    await sql(raw, "update tdk_accounts set quota_override = 1 where id = $1", [caller.accountId]);
    const spent = await moneyOf(caller);
    const before = verifications();
    const refused = await paid(caller.apiKey);
    expect(verifications()).toBe(before);
    expect(refused.status).toBe(402);
    expect(refused.json.error).toMatchObject({ code: "quota_exceeded", limit: 1, used: 1 });
    expect(await moneyOf(caller)).toEqual(spent);
    await sql(raw, "update tdk_accounts set quota_override = null where id = $1", [caller.accountId]);
    expect((await paid(caller.apiKey)).status).toBe(200);
  });

  it("revoking or rotating through this gateway forgets the key's verification at once", async () => {
    const revoked = await createKeyedAccount(app, { label: "revoked-here" });
    expect((await paid(revoked.apiKey)).status).toBe(200);
    await servicesFor(app).keys.revoke(revoked.accountId, revoked.key.id);
    const before = verifications();
    expect((await paid(revoked.apiKey)).json.error.code).toBe("key_revoked");
    expect(verifications()).toBe(before + 1);

    const rotated = await createKeyedAccount(app, { label: "rotated-here" });
    expect((await paid(rotated.apiKey)).status).toBe(200);
    await servicesFor(app).keys.rotate(rotated.accountId, rotated.key.id, 0);
    const rotatedBefore = verifications();
    expect((await paid(rotated.apiKey)).json.error.code).toBe("key_revoked");
    expect(verifications()).toBe(rotatedBefore + 1);
  });
});
