/**
 * `npm run bench` section 11: an account with 1,000,000 usage rows (BENCH_USAGE_ROWS) over 365
 * days, 10 keys and 5 agents, on PGlite and (BENCH_DATABASE_URL) PostgreSQL. Measured, p50 of 20:
 *   - the dashboard's reads, as its page makes them (3 summaries: today, this month, 30 days; the
 *     last 20 calls), in parallel;
 *   - the usage endpoints' answer (`usageResponse`, shared by GET /api/tdk/v1/usage and
 *     GET /api/tdk/usage, after authentication): a page of 50 and the summary, for the account and
 *     for one key, over the default 30 days and over 365 days.
 * Side by side, in the same run: the same summaries computed from the rows (the summary function
 * before the daily roll-ups, created here under another name). Measured after VACUUM of the
 * roll-ups, whose bulk seed leaves dead versions that calls do not (below); the account's 365-day
 * summary is also shown before it.
 */
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { Keypair } from "@solana/web3.js";
import { usageResponse } from "@/lib/http/usage-response";
import { readUsage, usagePage, usageSummary, type UsageScope } from "@/lib/usage/usage";
import { benchBackends } from "./databases";

/**
 * The summary as it was before the roll-ups, every row of the range scanned: read from the migration
 * that defined it (0300), created here under another name.
 */
async function summaryFromRowsFunction(): Promise<string> {
  const migration = await readFile(path.join(__dirname, "../../supabase/migrations/20261128000300_paid_call_functions.sql"), "utf8");
  const start = migration.indexOf("create or replace function tdk_usage_summary(");
  const end = migration.indexOf("$$;", start);
  if (start < 0 || end < 0) throw new Error("the pre-roll-up tdk_usage_summary was not found in migration 0300");
  return migration.slice(start, end + 3).replace("function tdk_usage_summary(", "function bench_usage_summary_rows(");
}

const p50 = (samples: number[]) => [...samples].sort((a, b) => a - b)[Math.floor(samples.length / 2)]!;
async function p50Of(runs: number, work: () => Promise<unknown>): Promise<number> {
  await work();
  const samples: number[] = [];
  for (let i = 0; i < runs; i += 1) {
    const start = performance.now();
    await work();
    samples.push(performance.now() - start);
  }
  return p50(samples);
}
const msText = (value: number) => `${value.toFixed(1)} ms`.padStart(10);

export async function benchUsageScale(): Promise<void> {
  const ROWS = Number(process.env.BENCH_USAGE_ROWS ?? 1_000_000);
  const RUNS = 20;
  console.log(
    `\n## 11. An account with ${ROWS.toLocaleString("en-US")} usage rows (365 days, 10 keys, 5 agents): p50 of ${RUNS} (target ≤ 200 ms)`,
  );
  for (const backend of benchBackends()) {
    const { db, sql, close } = await backend.open();
    try {
      const [accountRow] = (
        await sql(`insert into tdk_accounts (email, password_hash, tier) values ($1, '$2a$10$' || repeat('x', 53), 'paid') returning id`, [
          `usage-${randomBytes(4).toString("hex")}@example.com`,
        ])
      ).rows;
      const accountId = String(accountRow!.id);
      const keys: string[] = [];
      for (let i = 0; i < 10; i += 1) {
        const [key] = (
          await sql(
            `insert into tdk_api_keys (account_id, name, key_hash, key_prefix, wallet_public_key, wallet_secret_encrypted) values ($1, $2, $3, 'tk_live_bench', $4, 'tdkenc:bench') returning id`,
            [accountId, `key ${i}`, randomBytes(32).toString("hex"), Keypair.generate().publicKey.toBase58()],
          )
        ).rows;
        keys.push(String(key!.id));
      }
      // Rows through the real insert path (the roll-up trigger fires for each), newest first, one every 365 days / ROWS.
      const insertStarted = performance.now();
      const spacingSeconds = (365 * 86_400) / ROWS;
      for (let done = 0; done < ROWS; done += 100_000) {
        await sql(
          `insert into tdk_usage (request_id, api_key_id, account_id, agent_id, agent_name, status, agent_cost_micro, markup_bps, developer_cost_micro, tier, tx_signature, created_at, settled_at)
           select 'bench-' || g, ($2::uuid[])[1 + g % 10], $1, 'agent-' || (g % 5), 'Agent ' || (g % 5), s.status::tdk_usage_status,
                  1000 + (g % 7) * 100, 1000, (1000 + (g % 7) * 100) * 11 / 10, 'paid',
                  case when s.status = 'succeeded' then md5('sig' || g) end, t.at, t.at
             from generate_series($3::int, $4::int) g,
                  lateral (select case when g % 20 = 0 then 'failed' when g % 50 = 1 then 'agent_failed' else 'succeeded' end as status) s,
                  lateral (select now() - make_interval(secs => g * $5::float8) as at) t`,
          [accountId, keys, done + 1, Math.min(done + 100_000, ROWS), spacingSeconds],
        );
      }
      await sql("analyze tdk_usage");
      await sql("analyze tdk_usage_daily");
      await sql(await summaryFromRowsFunction());
      console.log(
        `${backend.name}: ${ROWS.toLocaleString("en-US")} rows inserted in ${((performance.now() - insertStarted) / 1000).toFixed(1)} s (roll-ups kept by the trigger)`,
      );

      const DAY = 86_400_000;
      const now = new Date();
      const end = new Date(now.getTime() + 1);
      const todayStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
      const monthStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
      const chartStart = new Date(todayStart.getTime() - 29 * DAY);
      const yearAgo = new Date(now.getTime() - 365 * DAY);
      const account: UsageScope = { accountId, keyId: null };
      const key: UsageScope = { accountId, keyId: keys[0]! };
      const fromRows = (scope: UsageScope, range: { from: Date; to: Date }) =>
        sql("select bench_usage_summary_rows($1, $2, $3, $4) as result", [
          scope.accountId,
          scope.keyId,
          range.from.toISOString(),
          range.to.toISOString(),
        ]);

      // The seed writes 100,000 rows a statement, so each roll-up row's updates within a statement
      // all stay behind as dead versions until VACUUM (135 MB of pages for 3,660 roll-ups at
      // 1,000,000 rows), and every summary reads through them. Calls are one transaction each: their
      // roll-up updates are HOT and pruned as pages fill (a scratch probe on PGlite, which runs no
      // autovacuum: 20,000 rows inserted and settled one transaction each, 37,973 roll-up updates,
      // all HOT, left their 50 roll-ups in one page). So the figures below are taken after VACUUM,
      // the state calls leave; the line before shows what the seed left.
      const rollupPages = async () => {
        const [row] = (
          await sql("select pg_relation_size('tdk_usage_daily') / 8192 as pages, (select count(*) from tdk_usage_daily) as rows")
        ).rows;
        return `${Number(row!.rows).toLocaleString("en-US")} roll-ups in ${Number(row!.pages).toLocaleString("en-US")} pages`;
      };
      const seeded = await p50Of(RUNS, () => usageSummary(db, account, { from: yearAgo, to: end }));
      const seededPages = await rollupPages();
      await sql("vacuum analyze tdk_usage_daily");
      const vacuumed = await p50Of(RUNS, () => usageSummary(db, account, { from: yearAgo, to: end }));
      console.log(
        `  ${"summary, account, 365 days, as seeded".padEnd(40)} ${msText(seeded)}   · after VACUUM ${msText(vacuumed)} (${seededPages}; VACUUM keeps the file, frees the dead versions)`,
      );

      const dashboard = await p50Of(RUNS, () =>
        Promise.all([
          usageSummary(db, account, { from: todayStart, to: end }),
          usageSummary(db, account, { from: monthStart, to: end }),
          usageSummary(db, account, { from: chartStart, to: end }),
          usagePage(db, account, { limit: 20, range: { from: chartStart, to: end } }),
        ]),
      );
      const dashboardRows = await p50Of(RUNS, () =>
        Promise.all([
          fromRows(account, { from: todayStart, to: end }),
          fromRows(account, { from: monthStart, to: end }),
          fromRows(account, { from: chartStart, to: end }),
        ]),
      );
      console.log(
        `  ${"dashboard reads (3 summaries + last 20)".padEnd(40)} ${msText(dashboard)}   · its 3 summaries from the rows (before): ${msText(dashboardRows)}`,
      );
      const cases: [string, UsageScope, Record<string, string>][] = [
        ["usage endpoint, account, 30 days", account, {}],
        ["usage endpoint, account, 365 days", account, { from: yearAgo.toISOString() }],
        ["usage endpoint, one key, 30 days", key, {}],
        ["usage endpoint, one key, 365 days", key, { from: yearAgo.toISOString() }],
      ];
      for (const [name, scope, params] of cases) {
        const query = new URLSearchParams(params);
        const answer = await p50Of(RUNS, async () => {
          const response = usageResponse(await readUsage(db, query, async () => scope));
          if (response.status !== 200) throw new Error(`usage answered ${response.status}`);
          await response.json();
        });
        const from = params.from ? new Date(params.from) : new Date(end.getTime() - 30 * DAY);
        const summary = await p50Of(RUNS, () => usageSummary(db, scope, { from, to: end }));
        const before = await p50Of(RUNS, () => fromRows(scope, { from, to: end }));
        console.log(
          `  ${name.padEnd(40)} ${msText(answer)}   · its summary: from the roll-ups ${msText(summary)}, from the rows (before) ${msText(before)}`,
        );
      }
    } finally {
      await close();
    }
  }
}
