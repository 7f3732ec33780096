import { randomBytes, randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AppContext } from "@/lib/context";
import { usageSummary, type UsageSummary } from "@/lib/usage/usage";
import { createKeyedAccount, createTestApp, sql } from "../helpers/app";
import { concurrencyBackends } from "../helpers/postgres";

/**
 * Usage summaries read whole UTC days from `tdk_usage_daily` (kept by a trigger on tdk_usage) and
 * partial days from the rows: the answer must be exactly what the rows say, whatever writes them.
 * The reference here is computed in TypeScript from the rows themselves.
 */

interface Row {
  account_id: string;
  api_key_id: string;
  agent_id: string;
  agent_name: string | null;
  status: "pending" | "succeeded" | "failed" | "agent_failed";
  agent_cost_micro: string;
  developer_cost_micro: string;
  created_at: Date;
}

function reference(rows: Row[], scope: { accountId: string; keyId: string | null }, from: Date, to: Date): UsageSummary {
  const inScope = rows.filter(
    (row) =>
      row.account_id === scope.accountId &&
      (!scope.keyId || row.api_key_id === scope.keyId) &&
      row.created_at >= from &&
      row.created_at < to,
  );
  const costs = (row: Row) => ({
    agent: ["succeeded", "agent_failed"].includes(row.status) ? Number(row.agent_cost_micro) : 0,
    developer: row.status === "succeeded" ? Number(row.developer_cost_micro) : 0,
  });
  const group = <K extends string>(keyOf: (row: Row) => K) => {
    const groups = new Map<K, Row[]>();
    for (const row of inScope) groups.set(keyOf(row), [...(groups.get(keyOf(row)) ?? []), row]);
    return [...groups].map(([key, members]) => ({
      key,
      members,
      calls: members.length,
      agent_cost_micro: members.reduce((sum, row) => sum + costs(row).agent, 0),
      developer_cost_micro: members.reduce((sum, row) => sum + costs(row).developer, 0),
      agent_name:
        members
          .map((row) => row.agent_name)
          .filter((name): name is string => name !== null)
          .sort()
          .at(-1) ?? null,
    }));
  };
  const day = (row: Row) => row.created_at.toISOString().slice(0, 10);
  const count = (status: Row["status"]) => inScope.filter((row) => row.status === status).length;
  const amounts = ({
    calls,
    agent_cost_micro,
    developer_cost_micro,
  }: {
    calls: number;
    agent_cost_micro: number;
    developer_cost_micro: number;
  }) => ({ calls, agent_cost_micro, developer_cost_micro });
  return {
    calls: inScope.length,
    succeeded: count("succeeded"),
    failed: count("failed"),
    agent_failed: count("agent_failed"),
    pending: count("pending"),
    agent_cost_micro: inScope.reduce((sum, row) => sum + costs(row).agent, 0),
    developer_cost_micro: inScope.reduce((sum, row) => sum + costs(row).developer, 0),
    by_agent: group((row) => row.agent_id)
      .sort((a, b) => b.developer_cost_micro - a.developer_cost_micro || (a.key < b.key ? -1 : 1))
      .map((g) => ({ agent_id: g.key, agent_name: g.agent_name, ...amounts(g) })),
    by_day: group(day)
      .sort((a, b) => (a.key < b.key ? -1 : 1))
      .map((g) => ({ day: g.key, ...amounts(g) })),
    by_day_agent: group((row) => `${day(row)}|${row.agent_id}`)
      .sort((a, b) => (a.key < b.key ? -1 : 1))
      .map((g) => ({ day: g.key.split("|")[0]!, agent_id: g.key.split("|")[1]!, agent_name: g.agent_name, ...amounts(g) })),
  };
}

describe.each(concurrencyBackends())("usage roll-ups on $name", (backend) => {
  let app: AppContext;
  let close: () => Promise<void>;
  const DAY = 86_400_000;
  // Five UTC days back from a midnight, so that ranges can start and end on and off day boundaries.
  const midnight = Date.UTC(2026, 10, 20);
  let owner: { accountId: string; keys: string[] };
  let other: { accountId: string; keys: string[] };

  beforeAll(async () => {
    const opened = await backend.open();
    close = opened.close;
    app = await createTestApp({ db: opened.db });
    const a = await createKeyedAccount(app, { tier: "paid", label: "rollup-a" });
    const b = await createKeyedAccount(app, { tier: "paid", label: "rollup-b" });
    // A second key of the first account, inserted as the key routes would (its wallet is never used).
    const [second] = await sql<{ id: string }>(
      app.db,
      `insert into tdk_api_keys (account_id, name, key_hash, key_prefix, wallet_public_key, wallet_secret_encrypted)
       select account_id, 'second', $2, key_prefix, $3, wallet_secret_encrypted from tdk_api_keys where id = $1 returning id`,
      [a.key.id, randomBytes(32).toString("hex"), randomBytes(16).toString("hex")],
    );
    owner = { accountId: a.accountId, keys: [a.key.id, second!.id] };
    other = { accountId: b.accountId, keys: [b.key.id] };
  }, 120_000);
  afterAll(async () => close?.());

  const insertRows = async (count: number) => {
    const statuses: Row["status"][] = ["succeeded", "succeeded", "failed", "agent_failed", "pending"];
    for (let i = 0; i < count; i += 1) {
      const account = i % 4 === 3 ? other : owner;
      const status = statuses[i % statuses.length]!;
      const agentCost = 1_000 * ((i % 7) + 1);
      // Spread over five days, some exactly at midnight.
      const createdAt = new Date(
        midnight - 5 * DAY + (i % 10 === 0 ? Math.floor(i / 10) * (DAY / 2) : Math.floor((i * 7_919_311) % (5 * DAY))),
      );
      await sql(
        app.db,
        `insert into tdk_usage (request_id, api_key_id, account_id, agent_id, agent_name, status, agent_cost_micro, markup_bps, developer_cost_micro, tier, tx_signature, created_at, settled_at)
         values ($1, $2, $3, $4, $5, $6::tdk_usage_status, $7, 1000, $8, 'paid', $9, $10::timestamptz, case when $6::text = 'pending' then null else $10::timestamptz end)`,
        [
          randomUUID(),
          account.keys[i % account.keys.length],
          account.accountId,
          `agent-${i % 3}`,
          i % 5 === 0 ? null : `Agent ${i % 3}`,
          status,
          agentCost,
          Math.round(agentCost * 1.1),
          status === "succeeded" ? randomBytes(32).toString("hex") : null,
          createdAt.toISOString(),
        ],
      );
    }
  };
  const rows = () =>
    sql<Row>(
      app.db,
      "select account_id, api_key_id, agent_id, agent_name, status, agent_cost_micro::text, developer_cost_micro::text, created_at from tdk_usage",
    ).then((all) => all.map((row) => ({ ...row, created_at: new Date(row.created_at) })));
  const ranges = () => [
    { name: "the five days, from and to on midnights", from: new Date(midnight - 5 * DAY), to: new Date(midnight) },
    { name: "partial first and last days", from: new Date(midnight - 4.5 * DAY + 1), to: new Date(midnight - 0.25 * DAY - 7) },
    { name: "inside one day", from: new Date(midnight - 2 * DAY + 3_600_000), to: new Date(midnight - 2 * DAY + 7_200_000) },
    { name: "across one midnight only", from: new Date(midnight - 2.5 * DAY), to: new Date(midnight - 1.5 * DAY) },
    { name: "one whole day exactly", from: new Date(midnight - 3 * DAY), to: new Date(midnight - 2 * DAY) },
    { name: "past every row", from: new Date(midnight - 40 * DAY), to: new Date(midnight + 30 * DAY) },
    { name: "empty", from: new Date(midnight + DAY), to: new Date(midnight + 2 * DAY) },
  ];
  const expectSummariesMatchRows = async () => {
    const all = await rows();
    for (const scope of [
      { accountId: owner.accountId, keyId: null },
      { accountId: owner.accountId, keyId: owner.keys[1]! },
      { accountId: other.accountId, keyId: null },
    ]) {
      for (const range of ranges()) {
        expect(await usageSummary(app.db, scope, range), `${range.name} (${scope.keyId ? "one key" : "account"})`).toEqual(
          reference(all, scope, range.from, range.to),
        );
      }
    }
    // The invariant itself: every roll-up is the rows of its (account, day, key, agent).
    const drift = await sql(
      app.db,
      `with truth as (
         select account_id, api_key_id, (created_at at time zone 'utc')::date as day, agent_id, count(*) as calls,
                count(*) filter (where status = 'pending') as pending,
                coalesce(sum(developer_cost_micro) filter (where status = 'succeeded'), 0) as developer_cost_micro
           from tdk_usage group by 1, 2, 3, 4)
       select * from truth t full join (select * from tdk_usage_daily where calls > 0) d using (account_id, api_key_id, day, agent_id)
        where t.calls is distinct from d.calls or t.pending is distinct from d.pending or t.developer_cost_micro is distinct from d.developer_cost_micro`,
    );
    expect(drift).toEqual([]);
  };

  it("answer exactly what the rows say, for whole and partial days, per account and per key", async () => {
    await insertRows(120);
    await expectSummariesMatchRows();
  });

  it("stay right as rows settle, move to another day, change agent, or are deleted", async () => {
    // Pending calls settle (the pipeline's update), as succeeded or failed.
    await sql(
      app.db,
      "update tdk_usage set status = 'succeeded', settled_at = now(), tx_signature = md5(id::text) where status = 'pending' and agent_id = 'agent-0'",
    );
    await sql(app.db, "update tdk_usage set status = 'failed', settled_at = now() where status = 'pending'");
    // An operator corrects settled rows' status and costs in one statement: each stays in its roll-up, which moves by the difference.
    await sql(
      app.db,
      `update tdk_usage set status = 'agent_failed', agent_cost_micro = agent_cost_micro + 7, developer_cost_micro = developer_cost_micro + 11
        where id in (select id from tdk_usage where agent_id = 'agent-0' and status = 'succeeded' order by id limit 3)`,
    );
    await sql(
      app.db,
      "update tdk_usage set developer_cost_micro = developer_cost_micro + 5 where id in (select id from tdk_usage where status = 'succeeded' order by id limit 2)",
    );
    // An operator moves rows to another day and renames an agent; recording a receipt changes nothing counted.
    await sql(
      app.db,
      "update tdk_usage set created_at = created_at - interval '1 day 3 hours' where agent_id = 'agent-1' and status = 'failed'",
    );
    await sql(
      app.db,
      "update tdk_usage set agent_id = 'agent-9', agent_name = 'Renamed' where agent_id = 'agent-2' and status = 'agent_failed'",
    );
    await sql(app.db, "update tdk_usage set receipt_id = 'r-' || id where status = 'succeeded'");
    await sql(app.db, "delete from tdk_usage where id in (select id from tdk_usage where status = 'failed' order by id limit 5)");
    await expectSummariesMatchRows();
  });
});
