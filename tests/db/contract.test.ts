import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Keypair, PublicKey } from "@solana/web3.js";
import { z } from "zod";
import { logIn, registerAccount } from "@/lib/auth/accounts";
import { createSession, getSession, revokeSession } from "@/lib/auth/sessions";
import type { KeyRing } from "@/lib/crypto/secret-box";
import { callFunction, DatabaseError, type Database } from "@/lib/db";
import { PGliteDatabase } from "@/lib/db/pglite";
import { PostgresDatabase } from "@/lib/db/postgres";
import { SupabaseDatabase } from "@/lib/db/supabase";
import { createApiKey, getApiKey, listApiKeys, revokeApiKey, verifyApiKey, type KeyDeps } from "@/lib/keys/keys";
import { parseEnv } from "@/lib/env";
import { buildMoneyPolicy } from "@/lib/money/policy";
import { fundWallets, listFundings, type FundingDeps } from "@/lib/solana/funding";
import { LocalLedger } from "@/lib/solana/local-ledger";
import { ensureEmbeddedTreasury, loadTreasury, storeTreasury, treasuryPublicKey } from "@/lib/solana/treasury";
import { strongPassword, uniqueEmail } from "../helpers/app";
import { createTempDatabase, testDatabaseUrl } from "../helpers/postgres";
import { startPostgrestStandIn, type PostgrestStandIn } from "../helpers/postgrest-standin";

/**
 * One contract, three backends: every data-access function behaves the same on PGlite, on the
 * real PostgreSQL (TEST_DATABASE_URL) and through supabase-js against a PostgREST stand-in that
 * forwards to that PostgreSQL.
 */

interface Backend {
  name: string;
  open(): Promise<{ db: Database; standIn?: PostgrestStandIn; teardown(): Promise<void> }>;
}

const postgresUrl = testDatabaseUrl();
const backends: Backend[] = [
  {
    name: "PGlite",
    open: async () => {
      const db = await PGliteDatabase.open(null);
      return { db, teardown: () => db.close() };
    },
  },
  {
    // The server's default (PGLITE_THREAD=worker): the same PGlite, spoken to by messages.
    name: "PGlite on its own thread",
    open: async () => {
      const db = await PGliteDatabase.open(null, { thread: "worker" });
      return { db, teardown: () => db.close() };
    },
  },
];
if (postgresUrl) {
  backends.push(
    {
      name: "PostgreSQL (DATABASE_URL)",
      open: async () => {
        const temp = await createTempDatabase(postgresUrl);
        const db = await PostgresDatabase.open(temp.url);
        return {
          db,
          teardown: async () => {
            await db.close();
            await temp.drop();
          },
        };
      },
    },
    {
      name: "Supabase (supabase-js → PostgREST stand-in → PostgreSQL)",
      open: async () => {
        const temp = await createTempDatabase(postgresUrl);
        // Migrations are applied as `supabase db push` would, before the app connects.
        await (await PostgresDatabase.open(temp.url)).close();
        const serviceRoleKey = `service-role-${randomBytes(8).toString("hex")}`;
        const standIn = await startPostgrestStandIn(temp.url, serviceRoleKey);
        const db = new SupabaseDatabase(standIn.url, serviceRoleKey);
        return {
          db,
          standIn,
          teardown: async () => {
            await standIn.close();
            await temp.drop();
          },
        };
      },
    },
  );
}

describe.each(backends)("data contract on $name", (backend) => {
  let db: Database;
  let teardown: () => Promise<void>;
  let ring: KeyRing;
  let deps: KeyDeps;
  let funding: FundingDeps;

  beforeAll(async () => {
    ({ db, teardown } = await backend.open());
    ring = { current: { version: 1, key: randomBytes(32) }, decryptOnly: [] };
    const ledger = await LocalLedger.open(null);
    const treasury = await ensureEmbeddedTreasury(db, ring, ledger, { usdcMicro: 100_000_000n, solLamports: 1_000_000_000n });
    // The default limits: a free account's funding is cut to its daily cap ($5 of the $10 asked).
    const policy = buildMoneyPolicy(parseEnv({ NODE_ENV: "test" }).limits, { freeMonthlyQuota: 5_000, requireCard: false });
    funding = { db, ledger, treasury, policy };
    deps = {
      db,
      ledger,
      ring,
      funding,
      config: { mode: "test", maxPerAccount: 2, createdPerDay: 10, initialUsdcMicro: 10_000_000n, initialSolLamports: 10_000_000n },
    };
  });
  afterAll(async () => teardown?.());

  async function newAccount(label: string) {
    const result = await registerAccount(db, uniqueEmail(label), strongPassword);
    if (!result.ok) throw new Error(result.code);
    return result.account;
  }

  it("registers accounts with normalised, unique emails", async () => {
    const email = uniqueEmail("contract");
    const first = await registerAccount(db, email, strongPassword);
    expect(first).toMatchObject({ ok: true, account: { email, tier: "free" } });
    expect(await registerAccount(db, ` ${email.toUpperCase()} `, strongPassword)).toEqual({ ok: false, code: "email_taken" });
  });

  it("logs in, and answers the same for an unknown email and a wrong password", async () => {
    const email = uniqueEmail("login");
    await registerAccount(db, email, strongPassword);
    const ok = await logIn(db, email.toUpperCase(), strongPassword, 60_000);
    expect(ok.ok).toBe(true);
    expect(await logIn(db, email, "wrong-password-9", 60_000)).toEqual({ ok: false, code: "invalid_credentials" });
    expect(await logIn(db, uniqueEmail("ghost"), strongPassword, 60_000)).toEqual({ ok: false, code: "invalid_credentials" });
  });

  it("keeps sessions hashed, expiring and revocable", async () => {
    const account = await newAccount("session");
    const live = await createSession(db, account.id, 60_000);
    expect((await getSession(db, live.token))?.account.id).toBe(account.id);
    expect(await revokeSession(db, live.token)).toBe(true);
    expect(await revokeSession(db, live.token)).toBe(false);
    expect(await getSession(db, live.token)).toBeNull();
    const shortLived = await createSession(db, account.id, 1_000);
    expect(await getSession(db, shortLived.token)).not.toBeNull();
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expect(await getSession(db, shortLived.token)).toBeNull();
  });

  it("creates, lists, verifies and revokes keys per account, never across accounts", async () => {
    const owner = await newAccount("owner");
    const other = await newAccount("other");
    const created = await createApiKey(deps, owner.id, "main");
    if (!created.ok) throw new Error(created.code);
    expect(created.key.wallet.usdc_micro).toBe(5_000_000);
    expect(created.funding).toMatchObject({ status: "confirmed", usdc: "5.000000" });

    expect((await listApiKeys(db, owner.id)).map((key) => key.id)).toEqual([created.key.id]);
    expect(await listApiKeys(db, other.id)).toEqual([]);
    expect(await getApiKey(db, other.id, created.key.id)).toBeNull();
    expect(await revokeApiKey(db, other.id, created.key.id)).toBeNull();

    const verified = await verifyApiKey(db, created.apiKey);
    expect(verified).toMatchObject({ ok: true, key: { key_id: created.key.id, account_id: owner.id, status: "active" } });
    expect(await verifyApiKey(db, created.apiKey.slice(0, -1) + (created.apiKey.endsWith("A") ? "B" : "A"))).toEqual({
      ok: false,
      code: "invalid_api_key",
    });

    expect((await revokeApiKey(db, owner.id, created.key.id))?.status).toBe("revoked");
    expect(await verifyApiKey(db, created.apiKey)).toEqual({ ok: false, code: "key_revoked" });
  });

  it("enforces the per-account key limit inside the database", async () => {
    const account = await newAccount("limit");
    const unfunded = { ...deps, funding: null };
    expect((await createApiKey(unfunded, account.id, "a")).ok).toBe(true);
    expect((await createApiKey(unfunded, account.id, "b")).ok).toBe(true);
    expect(await createApiKey(unfunded, account.id, "c")).toEqual({ ok: false, code: "key_limit_reached", limit: 2 });
  });

  it("records fundings with signatures and resolves each once", async () => {
    const account = await newAccount("fund");
    const created = await createApiKey({ ...deps, funding: null }, account.id, "f");
    if (!created.ok) throw new Error(created.code);
    const outcome = await fundWallets(funding, [
      {
        keyId: created.key.id,
        wallet: new PublicKey(created.key.wallet.public_key),
        usdcMicro: 1_234_567n,
        solLamports: 0n,
        reason: "topup",
        usdcAccountExists: false,
      },
    ]);
    const [sent] = outcome.fundings;
    expect(sent).toMatchObject({ status: "confirmed", usdc_micro: 1_234_567, reason: "topup", account_id: account.id });
    const again = await callFunction(
      db,
      "tdk_resolve_funding",
      { p_funding_id: sent!.id, p_status: "failed", p_error: "late" },
      z.object({ ok: z.boolean(), code: z.string() }),
    );
    expect(again).toEqual({ ok: false, code: "already_resolved" });
    expect((await listFundings(db, created.key.id)).map((row) => row.status)).toEqual(["confirmed"]);
  });

  it("stores the treasury encrypted, once, unless replaced on purpose", async () => {
    const current = await treasuryPublicKey(db);
    expect(current).toBe(funding.treasury.publicKey.toBase58());
    const refused = await storeTreasury(db, ring, Keypair.generate(), { replace: false });
    expect(refused).toMatchObject({ ok: false, code: "treasury_exists", public_key: current });
    expect((await loadTreasury(db, ring))!.publicKey.toBase58()).toBe(current);
    const raw = await callFunction(db, "tdk_get_treasury", {}, z.object({ secret_encrypted: z.string() }));
    expect(raw.secret_encrypted).toMatch(/^tdkenc:1:1:/);
  });

  it("carries large integer amounts exactly and refuses negative balances", async () => {
    const account = await newAccount("amounts");
    const created = await createApiKey({ ...deps, funding: null }, account.id, "amounts");
    if (!created.ok) throw new Error(created.code);
    const big = 9_007_199_254_740_991n; // 2^53 - 1 micro-USD
    await callFunction(
      db,
      "tdk_set_wallet_balances",
      { p_key_id: created.key.id, p_usdc_micro: big, p_sol_lamports: 1n },
      z.object({ updated: z.literal(true) }),
    );
    expect((await getApiKey(db, account.id, created.key.id))?.wallet.usdc_micro).toBe(Number(big));
    await expect(
      callFunction(db, "tdk_set_wallet_balances", { p_key_id: created.key.id, p_usdc_micro: -1n, p_sol_lamports: 0n }, z.unknown()),
    ).rejects.toBeInstanceOf(DatabaseError);
  });
});

describe.each(backends.filter((backend) => backend.name.startsWith("Supabase")))("$name wire protocol", (backend) => {
  it("reaches the database only through supabase-js RPC calls carrying the service role key", async () => {
    const { db, standIn, teardown } = await backend.open();
    try {
      const email = uniqueEmail("wire");
      expect((await registerAccount(db, email, strongPassword)).ok).toBe(true);
      expect(await treasuryPublicKey(db)).toBeNull();
      const requests = standIn!.requests;
      expect(requests.map((request) => request.path)).toEqual(["/rest/v1/rpc/tdk_register_account", "/rest/v1/rpc/tdk_get_treasury"]);
      for (const request of requests) {
        expect(request.method).toBe("POST");
        expect(request.headers["content-type"]).toMatch(/application\/json/);
        expect(request.headers.apikey).toBeTruthy();
        expect(request.headers.authorization).toBe(`Bearer ${request.headers.apikey}`);
      }
      const body = requests[0]!.body as Record<string, string>;
      expect(Object.keys(body).sort()).toEqual(["p_email", "p_password_hash"]);
      expect(body.p_email).toBe(email);
      expect(body.p_password_hash).toMatch(/^\$2[aby]\$12\$/);
      expect(requests[1]!.body).toEqual({});
    } finally {
      await teardown();
    }
  });

  it("gets nothing with a wrong service role key", async () => {
    const { standIn, teardown } = await backend.open();
    try {
      const wrong = new SupabaseDatabase(standIn!.url, "not-the-service-role-key");
      await expect(wrong.call("tdk_get_treasury", {})).rejects.toThrow(/Invalid API key/);
    } finally {
      await teardown();
    }
  });
});
