import { beforeAll, describe, expect, it } from "vitest";
import * as register from "@/app/api/tdk/auth/register/route";
import * as login from "@/app/api/tdk/auth/login/route";
import * as generate from "@/app/api/tdk/keys/generate/route";
import * as call from "@/app/api/tdk/v1/call/route";
import * as keyUsage from "@/app/api/tdk/v1/usage/route";
import * as accountUsage from "@/app/api/tdk/usage/route";
import { callRoute, createTestApp, strongPassword, uniqueEmail } from "../helpers/app";

let session: string;
let keyA: { apiKey: string; id: string };
let keyB: { apiKey: string; id: string };

beforeAll(async () => {
  // Two keys of one free account, both funded on their first day (the default cap funds one).
  await createTestApp({ env: { FUNDING_CAP_FREE_ACCOUNT_DAILY_USDC_MICRO: "10000000" } });
  const email = uniqueEmail("usage");
  await callRoute(register.POST, "POST", "/", { body: { email, password: strongPassword } });
  session = (await callRoute(login.POST, "POST", "/", { body: { email, password: strongPassword } })).json.session_token;
  const a = await callRoute(generate.POST, "POST", "/", { bearer: session, body: { name: "a" } });
  const b = await callRoute(generate.POST, "POST", "/", { bearer: session, body: { name: "b" } });
  keyA = { apiKey: a.json.api_key, id: a.json.key.id };
  keyB = { apiKey: b.json.api_key, id: b.json.key.id };
  // Key A: 3 memory calls (0.001 each) and 1 sentiment (0.005); key B: 1 text stats (0.002) and one refused input.
  for (let i = 0; i < 3; i += 1)
    await callRoute(call.POST, "POST", "/", {
      bearer: keyA.apiKey,
      body: { agent_id: "warmmemory", input: { action: "store", key: `k${i}`, value: "v" } },
    });
  await callRoute(call.POST, "POST", "/", { bearer: keyA.apiKey, body: { agent_id: "sentiment", input: { text: "good" } } });
  await callRoute(call.POST, "POST", "/", { bearer: keyB.apiKey, body: { agent_id: "textstats", input: { text: "a b c" } } });
  await callRoute(call.POST, "POST", "/", { bearer: keyB.apiKey, body: { agent_id: "textstats", input: { wrong: true } } });
});

describe("GET /api/tdk/v1/usage (API key)", () => {
  it("pages the key's history newest first, with a cursor", async () => {
    const first = await callRoute(keyUsage.GET, "GET", "/api/tdk/v1/usage?limit=3", { bearer: keyA.apiKey });
    expect(first.status).toBe(200);
    expect(first.json.usage).toHaveLength(3);
    expect(first.json.usage[0].agent_name).toBe("sentiment");
    expect(first.json.next_cursor).toBeTruthy();
    const second = await callRoute(keyUsage.GET, "GET", `/api/tdk/v1/usage?limit=3&cursor=${first.json.next_cursor}`, {
      bearer: keyA.apiKey,
    });
    expect(second.json.usage).toHaveLength(1);
    expect(second.json.next_cursor).toBeNull();
    const ids = [...first.json.usage, ...second.json.usage].map((row: { id: string }) => row.id);
    expect(new Set(ids).size).toBe(4);
    expect(first.headers.get("x-ratelimit-limit")).toBe("100");
  });

  it("summarises calls and costs by agent and by day, to the micro-dollar", async () => {
    const { json } = await callRoute(keyUsage.GET, "GET", "/api/tdk/v1/usage", { bearer: keyA.apiKey });
    expect(json.summary).toMatchObject({
      calls: 4,
      succeeded: 4,
      agent_cost_micro: 8_000,
      developer_cost_micro: 12_000,
      agent_cost_usd: "0.008000",
      developer_cost_usd: "0.012000",
    });
    expect(json.summary.by_agent).toEqual([
      expect.objectContaining({ agent_name: "sentiment", calls: 1, developer_cost_micro: 7_500 }),
      expect.objectContaining({ agent_name: "warmmemory", calls: 3, developer_cost_micro: 4_500 }),
    ]);
    expect(json.summary.by_day).toEqual([
      expect.objectContaining({ day: new Date().toISOString().slice(0, 10), calls: 4, developer_cost_micro: 12_000 }),
    ]);
  });

  it("exports CSV", async () => {
    const res = await callRoute(keyUsage.GET, "GET", "/api/tdk/v1/usage?format=csv", { bearer: keyA.apiKey });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/text\/csv/);
    const lines = res.text.trim().split("\r\n");
    expect(lines[0]).toBe(
      "created_at,request_id,key_id,agent_id,agent_name,status,agent_cost_usd,developer_cost_usd,billed_usd,tier,tx_signature,receipt_id",
    );
    expect(lines).toHaveLength(5);
    expect(lines.slice(1).every((line) => line.includes(keyA.id) && line.includes(",succeeded,"))).toBe(true);
  });

  it("refuses bad parameters with 400 and missing keys with 401", async () => {
    for (const query of [
      "limit=0",
      "limit=1000",
      "format=xml",
      "from=yesterday",
      "cursor=bogus",
      "other=1",
      "from=2026-02-01&to=2026-01-01",
    ]) {
      const res = await callRoute(keyUsage.GET, "GET", `/api/tdk/v1/usage?${query}`, { bearer: keyA.apiKey });
      expect(res.status, query).toBe(400);
    }
    expect((await callRoute(keyUsage.GET, "GET", "/api/tdk/v1/usage")).status).toBe(401);
  });

  it("an empty range is empty", async () => {
    const res = await callRoute(keyUsage.GET, "GET", "/api/tdk/v1/usage?from=2020-01-01&to=2020-01-31", { bearer: keyA.apiKey });
    expect(res.json.usage).toEqual([]);
    expect(res.json.summary.calls).toBe(0);
  });
});

describe("GET /api/tdk/usage (session)", () => {
  it("covers every key of the account, or one with ?key_id=", async () => {
    const all = await callRoute(accountUsage.GET, "GET", "/api/tdk/usage", { bearer: session });
    expect(all.status).toBe(200);
    expect(all.json.summary).toMatchObject({ calls: 6, succeeded: 5, failed: 1, developer_cost_micro: 15_000 });
    const onlyB = await callRoute(accountUsage.GET, "GET", `/api/tdk/usage?key_id=${keyB.id}`, { bearer: session });
    expect(onlyB.json.usage.map((row: { status: string }) => row.status)).toEqual(["failed", "succeeded"]);
    expect(onlyB.json.usage[0]).toMatchObject({ billed_usd: "0.000000" });
  });

  it("answers 404 for another account's key and 401 without a session", async () => {
    const email = uniqueEmail("other");
    await callRoute(register.POST, "POST", "/", { body: { email, password: strongPassword } });
    const other = (await callRoute(login.POST, "POST", "/", { body: { email, password: strongPassword } })).json.session_token;
    expect((await callRoute(accountUsage.GET, "GET", `/api/tdk/usage?key_id=${keyA.id}`, { bearer: other })).status).toBe(404);
    expect((await callRoute(accountUsage.GET, "GET", "/api/tdk/usage", { bearer: other })).json.summary.calls).toBe(0);
    expect((await callRoute(accountUsage.GET, "GET", "/api/tdk/usage")).status).toBe(401);
  });
});
