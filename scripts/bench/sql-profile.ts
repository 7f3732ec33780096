/**
 * `npm run bench` section 12: where a paid call's database time goes on PostgreSQL, statement by
 * statement. The paid call runs through its route in process (the embedded ledger and demo
 * marketplace, as in section 3) on a fresh database behind one connection, with PostgreSQL's
 * `auto_explain` loaded into that session: every statement, those inside the SQL functions and
 * their triggers included, reports its execution time to the client as a notice. Printed per paid
 * call: each function the gateway calls, then the statements inside them, largest first (a nested
 * statement's time is also in its caller's). Needs BENCH_DATABASE_URL and a superuser (LOAD).
 *
 * The durations are the executor's (what the server spends running a statement), not the round
 * trip's: parsing the call, committing it and sending its answer are outside them. The whole
 * call's wall time is printed beside them for scale.
 */
import { randomBytes } from "node:crypto";
import { NextRequest } from "next/server";
import type pg from "pg";
import { POST as callRoute } from "@/app/api/tdk/v1/call/route";
import { demoAgents } from "@/lib/agents/demo-agents";
import { LocalMarketplace } from "@/lib/agents/local-marketplace";
import { setAccountTier } from "@/lib/auth/account-store";
import { registerAccount } from "@/lib/auth/accounts";
import { localMarketplaceAgents, setAppContext, type AppContext } from "@/lib/context";
import { PostgresDatabase } from "@/lib/db/postgres";
import { parseEnv } from "@/lib/env";
import { createApiKey } from "@/lib/keys/keys";
import { MemoryRateLimiter } from "@/lib/ratelimit/memory";
import { servicesFor } from "@/lib/services";
import { LocalLedger } from "@/lib/solana/local-ledger";
import { ensureEmbeddedTreasury } from "@/lib/solana/treasury";
import { createTempDatabase } from "@/tests/helpers/postgres";

const CALLS = Number(process.env.BENCH_SQL_CALLS ?? 500);
const WARM_UP = 200;
const BODIES = [
  { agent_id: "warmmemory", input: { action: "store", key: "k", value: "v" } },
  { agent_id: "textstats", input: { text: "the load test" } },
  { agent_id: "sentiment", input: { text: "good and fast" } },
  { agent_id: "echo", input: { hello: "bench" } },
];

/**
 * What the table names a statement by: its first line (the plan follows its text in the notice),
 * and the next when the first is only an opening bracket or keyword.
 */
function statementName(text: string): string {
  const [first = "", second = ""] = text.trim().split("\n");
  const name = (first.trim().length < 20 ? `${first} ${second}` : first).replace(/\s+/g, " ").trim();
  return name.length > 96 ? `${name.slice(0, 95)}…` : name;
}

export async function benchSqlProfile(): Promise<void> {
  console.log("\n## 12. A paid call's database time on PostgreSQL, statement by statement (auto_explain)");
  const base = process.env.BENCH_DATABASE_URL;
  if (!base) {
    console.log("(set BENCH_DATABASE_URL to run it)");
    return;
  }
  const temp = await createTempDatabase(base);
  // One connection: the session's auto_explain settings hold for every statement of every call.
  const db = await PostgresDatabase.open(temp.url, { max: 1 });
  const ledger = await LocalLedger.open(null);
  try {
    const env = parseEnv({
      NODE_ENV: "test",
      WALLET_ENCRYPTION_KEY: randomBytes(32).toString("hex"),
      MARKETPLACE_CALLS_PER_WALLET_PER_MINUTE: "0",
    });
    await ensureEmbeddedTreasury(db, env.encryption!, ledger, env.treasuryFloat);
    // A memo on each payment: a key's repeated call to an agent is never byte-identical (see section 9).
    const agents = localMarketplaceAgents(
      await LocalMarketplace.create(ledger, demoAgents(), { callsPerWalletPerMinute: null, memo: true }),
    );
    const app: AppContext = { env, db, ledger, ring: env.encryption!, limiter: new MemoryRateLimiter(), agents, stripe: null };
    setAppContext(app);
    const keys: string[] = [];
    for (let i = 0; i < BODIES.length; i += 1) {
      const account = await registerAccount(db, `sql-${i}-${randomBytes(4).toString("hex")}@example.com`, "bench-password-42");
      if (!account.ok) throw new Error("bench account not created");
      await setAccountTier(db, account.account.id, "pro");
      const key = await createApiKey(await servicesFor(app).keys.deps(), account.account.id, `sql ${i}`);
      if (!key.ok) throw new Error(`bench key not created: ${key.code}`);
      keys.push(key.apiKey);
    }
    const calls = async (count: number) => {
      for (let i = 0; i < count; i += 1) {
        const request = new NextRequest("http://localhost/api/tdk/v1/call", {
          method: "POST",
          headers: { authorization: `Bearer ${keys[i % keys.length]}`, "content-type": "application/json", "x-forwarded-for": "127.0.0.1" },
          body: JSON.stringify(BODIES[i % BODIES.length]),
        });
        const response = await callRoute(request, { params: Promise.resolve({}) });
        const text = await response.text();
        if (response.status !== 200) throw new Error(`paid call answered ${response.status}: ${text}`);
      }
    };
    await calls(WARM_UP);

    const pool = (db as unknown as { pool: pg.Pool }).pool;
    const client = await pool.connect();
    let durations: Map<string, { count: number; ms: number }> | null = null;
    client.on("notice", (notice) => {
      const found = /^duration: ([\d.]+) ms\s+plan:\s*Query Text: ([\s\S]*)/.exec(notice.message ?? "");
      if (!durations || !found) return;
      const name = statementName(found[2]!);
      const entry = durations.get(name) ?? { count: 0, ms: 0 };
      entry.count += 1;
      entry.ms += Number(found[1]);
      durations.set(name, entry);
    });
    try {
      await client.query("load 'auto_explain'");
    } catch (error) {
      console.log(`(skipped: loading auto_explain needs a superuser: ${(error as Error).message})`);
      return;
    } finally {
      client.release();
    }
    // Two passes: the functions alone, then with the statements inside them. A nested statement's
    // plan is written out inside its caller's run, so with nesting on, a caller's time grows by
    // auto_explain's own work: the functions' times come from the first pass, the statements'
    // from the second (an upper bound for one that runs others, as a trigger's caller does).
    const pass = async (nested: boolean) => {
      await pool.query(`
        set auto_explain.log_min_duration = 0;
        set auto_explain.log_nested_statements = ${nested ? "on" : "off"};
        set auto_explain.log_analyze = off;
        set auto_explain.log_level = notice;
        set client_min_messages = notice`);
      durations = new Map();
      const started = performance.now();
      await calls(CALLS);
      const wallMs = (performance.now() - started) / CALLS;
      const found = durations;
      durations = null;
      return { wallMs, statements: [...found].sort((a, b) => b[1].ms - a[1].ms) };
    };
    const functions = await pass(false);
    const inside = await pass(true);

    const perCall = (ms: number) => `${((ms / CALLS) * 1000).toFixed(0).padStart(5)} µs`;
    const line = ([name, entry]: [string, { count: number; ms: number }]) =>
      console.log(`  ${perCall(entry.ms)} · ${(entry.count / CALLS).toFixed(2)}× · ${name}`);
    const inServer = functions.statements.reduce((sum, [, entry]) => sum + entry.ms, 0);
    console.log(
      `${CALLS} paid calls (after ${WARM_UP} to warm up) on one connection: ${functions.wallMs.toFixed(2)} ms a call in all ` +
        `(the ledger, the marketplace and its agents in this process), ${perCall(inServer).trim()} of it executing the gateway's SQL`,
    );
    console.log("what the gateway runs, a paid call:");
    functions.statements.forEach(line);
    const top = Number(process.env.BENCH_SQL_TOP ?? 12);
    console.log(`inside it (already counted above), the ${top} largest:`);
    const called = new Set(functions.statements.map(([name]) => name));
    inside.statements
      .filter(([name]) => !called.has(name))
      .slice(0, top)
      .forEach(line);
  } finally {
    setAppContext(null);
    await ledger.close();
    await db.close();
    await temp.drop();
  }
}
