import { beforeAll, describe, expect, it } from "vitest";
import { PublicKey } from "@solana/web3.js";
import * as register from "@/app/api/tdk/auth/register/route";
import * as login from "@/app/api/tdk/auth/login/route";
import * as list from "@/app/api/tdk/keys/route";
import * as generate from "@/app/api/tdk/keys/generate/route";
import * as one from "@/app/api/tdk/keys/[id]/route";
import type { AppContext } from "@/lib/context";
import { verifyApiKey } from "@/lib/keys/keys";
import { callRoute, createTestApp, origin, strongPassword, uniqueEmail, sql } from "../helpers/app";

let app: AppContext;
let alice: string;
let bob: string;

async function sessionFor(email: string): Promise<string> {
  expect((await callRoute(register.POST, "POST", "/", { body: { email, password: strongPassword } })).status).toBe(201);
  const res = await callRoute(login.POST, "POST", "/", { body: { email, password: strongPassword } });
  return res.json.session_token;
}

async function rowCount(table: string): Promise<number> {
  return ((await sql(app.db, `select count(*)::int as n from ${table}`))[0] as { n: number }).n;
}

beforeAll(async () => {
  app = await createTestApp({ env: { MAX_KEYS_PER_ACCOUNT: "3" } });
  alice = await sessionFor(uniqueEmail("alice"));
  bob = await sessionFor(uniqueEmail("bob"));
});

describe("POST /api/tdk/keys/generate", () => {
  it("creates a key once, with a dedicated wallet funded from the treasury within the caps (balances from the chain)", async () => {
    const res = await callRoute(generate.POST, "POST", "/", { bearer: alice, body: { name: "production" } });
    expect(res.status).toBe(201);
    const { api_key: apiKey, key, funding } = res.json;
    expect(apiKey).toMatch(/^tk_test_[1-9A-HJ-NP-Za-km-z]{40,48}$/);
    expect(key).toMatchObject({ name: "production", tier: "free", status: "active", prefix: apiKey.slice(0, 12) });
    // 10 USDC asked for; a free account may receive 5 USDC a day (FUNDING_CAP_FREE_ACCOUNT_DAILY_USDC_MICRO).
    expect(key.wallet).toMatchObject({ usdc: "5.000000", sol: "0.010000000", usdc_micro: 5_000_000, sol_lamports: 10_000_000 });
    expect(funding).toMatchObject({ status: "confirmed", usdc: "5.000000", sol: "0.010000000" });

    const wallet = new PublicKey(key.wallet.public_key);
    expect(await app.ledger.getUsdcBalance(wallet)).toBe(5_000_000n);
    expect(await app.ledger.getSolBalance(wallet)).toBe(10_000_000n);
    expect(await app.ledger.getSignatureStatus(funding.tx_signature)).toBe("confirmed");

    // The full key never again: not in the list, not in the single read, not in the database.
    const listed = await callRoute(list.GET, "GET", "/", { bearer: alice });
    expect(listed.text).not.toContain(apiKey);
    const read = await callRoute(one.GET, "GET", "/", { bearer: alice, params: { id: key.id } });
    expect(read.json.key.id).toBe(key.id);
    expect(read.text).not.toContain(apiKey);
    const dump = await sql(app.db, "select * from tdk_api_keys");
    expect(JSON.stringify(dump)).not.toContain(apiKey);
    expect(JSON.stringify(listed.json)).not.toMatch(/key_hash|secret|tdkenc/);

    const verified = await verifyApiKey(app.db, apiKey);
    expect(verified).toMatchObject({ ok: true, key: { key_id: key.id, tier: "free", wallet_public_key: key.wallet.public_key } });
  });

  it("records the funding with its signature in the funding ledger", async () => {
    const dave = await sessionFor(uniqueEmail("dave"));
    const res = await callRoute(generate.POST, "POST", "/", { bearer: dave, body: {} });
    const rows = await sql<any>(
      app.db,
      "select reason, status, usdc_micro::text as usdc, sol_lamports::text as sol, overhead_lamports::text as overhead, tx_signature from tdk_wallet_fundings where api_key_id = $1",
      [res.json.key.id],
    );
    expect(rows).toHaveLength(1);
    // The treasury's fee (5,000) and the new token account's rent (2,039,280) are recorded too: they count in the SOL caps.
    expect(rows[0]).toMatchObject({
      reason: "initial",
      status: "confirmed",
      usdc: "5000000",
      sol: "10000000",
      overhead: "2044280",
      tx_signature: res.json.funding.tx_signature,
    });
    expect(res.json.key.name).toBe("Default key");
  });

  it("a second key the same day is created unfunded once the free account's daily funding cap is used", async () => {
    const res = await callRoute(generate.POST, "POST", "/", { bearer: alice, body: { name: "second" } });
    expect(res.status).toBe(201);
    expect(res.json.funding).toEqual({ status: "not_funded", reason: "account_cap_reached" });
    expect(res.json.key.wallet.usdc_micro).toBe(0);
    expect(await app.ledger.getUsdcBalance(new PublicKey(res.json.key.wallet.public_key))).toBe(0n);
  });

  it("accepts an empty body, refuses bad input with 400 and writes nothing", async () => {
    const keysBefore = await rowCount("tdk_api_keys");
    for (const body of [{ name: "" }, { name: "x".repeat(65) }, { name: 42 }, { other: true }]) {
      const res = await callRoute(generate.POST, "POST", "/", { bearer: bob, body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.json.error.code).toBe("validation_failed");
    }
    expect(
      (await callRoute(generate.POST, "POST", "/", { bearer: bob, rawBody: "[", headers: { "content-type": "application/json" } })).status,
    ).toBe(400);
    expect(await rowCount("tdk_api_keys")).toBe(keysBefore);
  });

  it("caps the keys an account holds (409), revoked keys not counted", async () => {
    const carol = await sessionFor(uniqueEmail("carol"));
    const ids: string[] = [];
    for (let i = 0; i < 3; i += 1) ids.push((await callRoute(generate.POST, "POST", "/", { bearer: carol })).json.key.id);
    const refused = await callRoute(generate.POST, "POST", "/", { bearer: carol });
    expect(refused.status).toBe(409);
    expect(refused.json.error).toMatchObject({ code: "key_limit_reached", limit: 3 });
    expect((await callRoute(one.DELETE, "DELETE", "/", { bearer: carol, params: { id: ids[0]! } })).status).toBe(200);
    expect((await callRoute(generate.POST, "POST", "/", { bearer: carol })).status).toBe(201);
  });
});

describe("secrets at rest", () => {
  it("keeps no plaintext API key, wallet secret, session token or password anywhere in the database", async () => {
    const email = uniqueEmail("dump");
    expect((await callRoute(register.POST, "POST", "/", { body: { email, password: strongPassword } })).status).toBe(201);
    const session = (await callRoute(login.POST, "POST", "/", { body: { email, password: strongPassword } })).json.session_token;
    const created = await callRoute(generate.POST, "POST", "/", { bearer: session });
    const { openKeypair } = await import("@/lib/crypto/wallet-keys");
    const row = (await sql<any>(app.db, "select wallet_secret_encrypted from tdk_api_keys where id = $1", [created.json.key.id]))[0];
    const wallet = openKeypair(app.ring, row.wallet_secret_encrypted, created.json.key.wallet.public_key);
    const { toBase58 } = await import("@/lib/solana/base58");
    const secretForms = [
      toBase58(wallet.secretKey),
      Buffer.from(wallet.secretKey).toString("hex"),
      Buffer.from(wallet.secretKey).toString("base64"),
      Buffer.from(wallet.secretKey.slice(0, 32)).toString("hex"),
      JSON.stringify(Array.from(wallet.secretKey)),
    ];

    const tables = (await sql<{ tablename: string }>(app.db, "select tablename from pg_tables where schemaname = 'public'")).map(
      (r) => r.tablename,
    );
    let dump = "";
    for (const table of tables)
      dump += JSON.stringify(await sql(app.db, `select * from ${table}`), (_k, v) => (typeof v === "bigint" ? v.toString() : v));
    for (const secret of [created.json.api_key, session, strongPassword, ...secretForms]) expect(dump).not.toContain(secret);
  });
});

describe("GET /api/tdk/keys and DELETE /api/tdk/keys/{id}", () => {
  it("lists only the caller's keys", async () => {
    const mine = await callRoute(generate.POST, "POST", "/", { bearer: bob, body: { name: "bob-key" } });
    const aliceList = await callRoute(list.GET, "GET", "/", { bearer: alice });
    const bobList = await callRoute(list.GET, "GET", "/", { bearer: bob });
    expect(bobList.json.keys.map((k: { id: string }) => k.id)).toEqual([mine.json.key.id]);
    expect(aliceList.json.keys.map((k: { id: string }) => k.id)).not.toContain(mine.json.key.id);
    expect(bobList.json.keys[0].wallet.usdc).toBe("5.000000");
  });

  it("revokes a key: verification then fails, and revoking again is harmless", async () => {
    const created = await callRoute(generate.POST, "POST", "/", { bearer: bob });
    const id = created.json.key.id;
    const revoked = await callRoute(one.DELETE, "DELETE", "/", { bearer: bob, params: { id } });
    expect(revoked.status).toBe(200);
    expect(revoked.json.key).toMatchObject({ id, status: "revoked" });
    expect(await verifyApiKey(app.db, created.json.api_key)).toEqual({ ok: false, code: "key_revoked" });
    expect((await callRoute(one.DELETE, "DELETE", "/", { bearer: bob, params: { id } })).status).toBe(200);
  });

  it("answers 404 for another account's key and leaves it untouched", async () => {
    const bobs = await callRoute(generate.POST, "POST", "/", { bearer: bob });
    const id = bobs.json.key.id;
    expect((await callRoute(one.DELETE, "DELETE", "/", { bearer: alice, params: { id } })).status).toBe(404);
    expect((await callRoute(one.GET, "GET", "/", { bearer: alice, params: { id } })).json.error.code).toBe("not_found");
    expect((await verifyApiKey(app.db, bobs.json.api_key)).ok).toBe(true);
  });

  it("answers 400 for a malformed id and 404 for an unknown one", async () => {
    expect((await callRoute(one.DELETE, "DELETE", "/", { bearer: alice, params: { id: "not-a-uuid" } })).status).toBe(400);
    expect(
      (await callRoute(one.DELETE, "DELETE", "/", { bearer: alice, params: { id: "00000000-0000-4000-8000-000000000000" } })).status,
    ).toBe(404);
  });
});

describe("PATCH /api/tdk/keys/{id}: spend limits", () => {
  it("sets, shows and clears a limit; refuses bad input, another account's key and a revoked key, changing nothing", async () => {
    const created = await callRoute(generate.POST, "POST", "/", { bearer: bob, body: { name: "limited" } });
    const id = created.json.key.id;
    expect(created.json.key.spend_limit).toBeNull();
    const set = await callRoute(one.PATCH, "PATCH", "/", {
      bearer: bob,
      params: { id },
      body: { spend_limit_usd: "5", spend_limit_period: "month" },
    });
    expect(set.status, set.text).toBe(200);
    expect(set.json.key.spend_limit).toMatchObject({ usd: "5.000000", period: "month", spent_usd: "0.000000", remaining_usd: "5.000000" });
    const now = new Date();
    expect(set.json.key.spend_limit.resets_at).toBe(
      new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1)).toISOString().replace(".000Z", "+00:00"),
    );
    const total = await callRoute(one.PATCH, "PATCH", "/", {
      bearer: bob,
      params: { id },
      body: { spend_limit_usd: 12.5, spend_limit_period: "total" },
    });
    expect(total.json.key.spend_limit).toMatchObject({ usd: "12.500000", period: "total", resets_at: null });

    const bad: unknown[] = [
      {},
      { spend_limit_usd: "5" },
      { spend_limit_usd: "5", spend_limit_period: "year" },
      { spend_limit_usd: "-5", spend_limit_period: "day" },
      { spend_limit_usd: "0", spend_limit_period: "day" },
      { spend_limit_usd: "5.0000001", spend_limit_period: "day" },
      { spend_limit_usd: "5", spend_limit_period: "day", other: 1 },
    ];
    for (const body of bad) {
      const res = await callRoute(one.PATCH, "PATCH", "/", { bearer: bob, params: { id }, body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.json.error.code).toBe("validation_failed");
    }
    expect((await callRoute(one.GET, "GET", "/", { bearer: bob, params: { id } })).json.key.spend_limit).toMatchObject({
      usd: "12.500000",
      period: "total",
    });
    expect((await callRoute(one.PATCH, "PATCH", "/", { bearer: alice, params: { id }, body: { spend_limit_usd: null } })).status).toBe(404);
    expect((await callRoute(one.PATCH, "PATCH", "/", { params: { id }, body: { spend_limit_usd: null } })).status).toBe(401);

    expect(
      (await callRoute(one.PATCH, "PATCH", "/", { bearer: bob, params: { id }, body: { spend_limit_usd: null } })).json.key.spend_limit,
    ).toBeNull();
    await callRoute(one.DELETE, "DELETE", "/", { bearer: bob, params: { id } });
    const revoked = await callRoute(one.PATCH, "PATCH", "/", {
      bearer: bob,
      params: { id },
      body: { spend_limit_usd: "1", spend_limit_period: "day" },
    });
    expect(revoked.status).toBe(409);
  });
});

describe("every key endpoint refuses callers without a valid session", () => {
  const endpoints = [
    ["GET /api/tdk/keys", () => callRoute(list.GET, "GET", "/")] as const,
    ["POST /api/tdk/keys/generate", () => callRoute(generate.POST, "POST", "/", { body: {} })] as const,
    [
      "DELETE /api/tdk/keys/{id}",
      () => callRoute(one.DELETE, "DELETE", "/", { params: { id: "00000000-0000-4000-8000-000000000000" } }),
    ] as const,
  ];

  it.each(endpoints)("%s: no session → 401", async (_name, call) => {
    const res = await call();
    expect(res.status).toBe(401);
    expect(res.json.error).toMatchObject({ code: "unauthorized" });
  });

  it.each([[`tds_${"A".repeat(43)}`], ["garbage"], ["tk_test_notasession"]])("a bad bearer token %s → 401", async (token) => {
    expect((await callRoute(list.GET, "GET", "/", { bearer: token })).status).toBe(401);
    expect((await callRoute(generate.POST, "POST", "/", { bearer: token })).status).toBe(401);
  });

  it("cookie-authenticated key creation needs our Origin (403 cross-site, nothing created)", async () => {
    const before = await rowCount("tdk_api_keys");
    const cookie = `tdk_session=${alice}`;
    const crossSite = await callRoute(generate.POST, "POST", "/", { cookie, headers: { origin: "https://evil.example" } });
    expect(crossSite.status).toBe(403);
    expect(await rowCount("tdk_api_keys")).toBe(before);
    const sameSite = await callRoute(generate.POST, "POST", "/", { cookie, headers: { origin } });
    expect(sameSite.status).toBe(201);
  });
});
