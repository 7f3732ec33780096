import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PostgresDatabase } from "@/lib/db/postgres";
import { createTempDatabase, testDatabaseUrl } from "../helpers/postgres";

const postgresUrl = testDatabaseUrl();

/**
 * Which of a paid call's commits wait for the WAL flush (20261128002600_reservation_commit_unflushed.sql):
 * the reservation does not (nothing leaves before the payment's record, whose flush covers it);
 * the payment's record, before the payment leaves, and the settlement do. Each statement runs as
 * the gateway runs it, alone in its transaction; what that transaction would commit with is read
 * inside it before it is rolled back.
 */
describe.skipIf(!postgresUrl)("paid call commits on PostgreSQL: which wait for the WAL flush", () => {
  let temp: Awaited<ReturnType<typeof createTempDatabase>>;
  let client: pg.Client;
  beforeAll(async () => {
    temp = await createTempDatabase(postgresUrl!);
    await (await PostgresDatabase.open(temp.url)).close();
    client = new pg.Client({ connectionString: temp.url });
    await client.connect();
  });
  afterAll(async () => {
    await client?.end();
    await temp?.drop();
  });

  async function synchronousCommit(): Promise<string> {
    const { rows } = await client.query<{ setting: string }>("select current_setting('synchronous_commit') as setting");
    return rows[0]!.setting;
  }

  /** The synchronous_commit the statement's transaction commits with. */
  async function commitsWith(statement: string, values: unknown[]): Promise<string> {
    await client.query("begin");
    try {
      await client.query(statement, values);
      return await synchronousCommit();
    } finally {
      await client.query("rollback");
    }
  }

  it("the reservation commits without waiting; the payment's record and the settlement wait", async () => {
    const beginArgs = [randomUUID(), "0".repeat(64), "req_1", "agent", "Agent", 1000, 5000, 1500, null, "hash", "{}", new Date()];
    expect(await commitsWith(`select tdk_begin_paid_call(${beginArgs.map((_, i) => `$${i + 1}`).join(", ")})`, beginArgs)).toBe("off");
    const usageId = randomUUID();
    expect(await commitsWith("select tdk_record_call_payment($1, $2, $3, $4, $5)", [usageId, "pi", "sig", "hash", 10])).toBe("on");
    const settle = "select tdk_settle_call($1, 'succeeded', $2, null, null, '{}'::jsonb, '{}'::jsonb)";
    expect(await commitsWith(settle, [usageId, "sig"])).toBe("on");
    // The session itself is untouched: the setting ended with the reservation's transaction.
    expect(await synchronousCommit()).toBe("on");
  });
});
