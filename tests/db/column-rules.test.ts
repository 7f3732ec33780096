import { PGlite } from "@electric-sql/pglite";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrate } from "@/lib/db/migrations";
import { pgliteMigrationTarget } from "@/lib/db/pglite";
import { PostgresDatabase } from "@/lib/db/postgres";
import { createTempDatabase, testDatabaseUrl } from "../helpers/postgres";

/**
 * The one-column rules of the tables a paid call writes are domains
 * (20261128002700_column_rules_as_domains.sql), no longer table checks. Every rule the migration
 * moved still refuses a bad value, written into a valid row, with a check violation that names the
 * rule; a valid row is written as before. Raw SQL on the migrated schema, on PGlite and on
 * PostgreSQL.
 */

interface Sql {
  /** One statement. */
  query(text: string): Promise<{ rows: Record<string, unknown>[] }>;
  /** Several statements, in one round trip. */
  exec(text: string): Promise<unknown>;
  close(): Promise<void>;
}

const backends: { name: string; open(): Promise<Sql> }[] = [
  {
    name: "PGlite",
    open: async () => {
      const lite = await PGlite.create();
      await migrate(pgliteMigrationTarget(lite));
      return { query: (text) => lite.query(text), exec: (text) => lite.exec(text), close: () => lite.close() };
    },
  },
];
const postgresUrl = testDatabaseUrl();
if (postgresUrl) {
  backends.push({
    name: "PostgreSQL",
    open: async () => {
      const temp = await createTempDatabase(postgresUrl);
      await (await PostgresDatabase.open(temp.url)).close();
      const client = new pg.Client({ connectionString: temp.url });
      await client.connect();
      return {
        query: (text) => client.query(text),
        exec: (text) => client.query(text),
        close: async () => {
          await client.end();
          await temp.drop();
        },
      };
    },
  });
}

/** A table's row, the column set to a value against its rule, and the rule (the domain's constraint) that refuses it. */
const badValues: { table: string; set: string; rule: string }[] = [
  { table: "tdk_api_keys", set: "key_hash = 'ABC'", rule: "tdk_sha256_hex_check" },
  { table: "tdk_api_keys", set: "previous_key_hash = 'not-hex', previous_key_expires_at = now()", rule: "tdk_sha256_hex_check" },
  { table: "tdk_api_keys", set: "key_prefix = 'tdk_'", rule: "tdk_key_prefix_check" },
  { table: "tdk_api_keys", set: "name = ''", rule: "tdk_key_name_check" },
  { table: "tdk_api_keys", set: "wallet_public_key = 'short'", rule: "tdk_solana_address_check" },
  { table: "tdk_api_keys", set: "wallet_secret_encrypted = 'a bare secret'", rule: "tdk_sealed_secret_check" },
  { table: "tdk_api_keys", set: "wallet_usdc_micro = -1", rule: "tdk_nonnegative_bigint_check" },
  { table: "tdk_api_keys", set: "wallet_sol_lamports = -1", rule: "tdk_nonnegative_bigint_check" },
  { table: "tdk_api_keys", set: "reserved_usdc_micro = reserved_usdc_micro - 1", rule: "tdk_nonnegative_bigint_check" },
  { table: "tdk_api_keys", set: "spend_limit_micro = 0, spend_limit_period = 'day'", rule: "tdk_positive_bigint_check" },
  { table: "tdk_api_keys", set: "spent_micro = -1", rule: "tdk_nonnegative_bigint_check" },
  { table: "tdk_accounts", set: "email = 'Someone@Example.com'", rule: "tdk_email_check" },
  { table: "tdk_accounts", set: "email = 'ab'", rule: "tdk_email_check" },
  { table: "tdk_accounts", set: "password_hash = 'plain text'", rule: "tdk_bcrypt_hash_check" },
  { table: "tdk_accounts", set: "role = 'root'", rule: "tdk_account_role_check" },
  { table: "tdk_accounts", set: "ops_this_month = -1", rule: "tdk_nonnegative_integer_check" },
  { table: "tdk_accounts", set: "quota_override = -1", rule: "tdk_nonnegative_integer_check" },
  { table: "tdk_accounts", set: "free_spent_micro = -1", rule: "tdk_nonnegative_bigint_check" },
  { table: "tdk_accounts", set: "in_flight_micro = in_flight_micro - 1", rule: "tdk_nonnegative_bigint_check" },
  { table: "tdk_accounts", set: "agent_failed_micro = -1", rule: "tdk_nonnegative_bigint_check" },
  { table: "tdk_accounts", set: "agent_failed_cap_override_micro = -1", rule: "tdk_nonnegative_bigint_check" },
  { table: "tdk_accounts", set: "free_allowance_override_micro = -1", rule: "tdk_nonnegative_bigint_check" },
  { table: "tdk_usage", set: "agent_cost_micro = -1", rule: "tdk_nonnegative_bigint_check" },
  { table: "tdk_usage", set: "markup_bps = -1", rule: "tdk_nonnegative_integer_check" },
  { table: "tdk_usage", set: "last_valid_block_height = -1", rule: "tdk_nonnegative_bigint_check" },
  ...["calls", "succeeded", "failed", "agent_failed", "pending", "agent_cost_micro", "developer_cost_micro"].map((column) => ({
    table: "tdk_usage_daily",
    set: `${column} = -1`,
    rule: "tdk_nonnegative_bigint_check",
  })),
  { table: "tdk_agent_breakers", set: "trips = -1", rule: "tdk_nonnegative_integer_check" },
];

describe.each(backends)("column rules on $name", (backend) => {
  let sql: Sql;
  beforeAll(async () => {
    sql = await backend.open();
    // One valid row in each table; the roll-up row comes from the usage row's insert trigger.
    await sql.exec(`
      insert into tdk_accounts (email, password_hash, tier) values ('rules@example.com', '$2b$10$abcdefghijklmnopqrstuv', 'pro');
      insert into tdk_api_keys (account_id, name, key_hash, key_prefix, wallet_public_key, wallet_secret_encrypted, wallet_usdc_micro)
        select id, 'rules', repeat('ab', 32), 'tdk_live_abcd', repeat('A', 44), 'tdkenc:v1:sealed', 5000000 from tdk_accounts;
      insert into tdk_usage (request_id, api_key_id, account_id, agent_id, agent_name, agent_cost_micro, markup_bps, developer_cost_micro, tier)
        select 'req-rules', k.id, k.account_id, 'echo', 'echo', 1000, 2000, 1200, 'pro' from tdk_api_keys k;
      insert into tdk_agent_breakers (agent_id) values ('echo');`);
  });
  afterAll(async () => {
    await sql?.close();
  });

  it("writes a valid row of each table", async () => {
    const { rows } = await sql.query(`
      select (select count(*) from tdk_accounts)::int as accounts, (select count(*) from tdk_api_keys)::int as keys,
             (select count(*) from tdk_usage)::int as usage, (select calls from tdk_usage_daily)::int as daily_calls`);
    expect(rows[0]).toEqual({ accounts: 1, keys: 1, usage: 1, daily_calls: 1 });
  });

  it.each(badValues)("refuses $table set $set ($rule), and changes nothing", async ({ table, set, rule }) => {
    const before = await sql.query(`select to_jsonb(t) as row from ${table} t`);
    await expect(sql.query(`update ${table} set ${set}`)).rejects.toMatchObject({ code: "23514", constraint: rule });
    expect((await sql.query(`select to_jsonb(t) as row from ${table} t`)).rows).toEqual(before.rows);
  });

  it("refuses a bad value on insert too", async () => {
    await expect(
      sql.query("insert into tdk_accounts (email, password_hash) values ('Shouting@Example.com', '$2b$10$abcdefghijklmnopqrstuv')"),
    ).rejects.toMatchObject({ code: "23514", constraint: "tdk_email_check" });
  });
});
