import { beforeAll, describe, expect, it } from "vitest";
import * as call from "@/app/api/tdk/v1/call/route";
import * as login from "@/app/api/tdk/auth/login/route";
import { z } from "zod";
import { demoAgents, type LocalAgentDefinition } from "@/lib/agents/demo-agents";
import { setAppContext, type AppContext } from "@/lib/context";
import { logger, scrub } from "@/lib/logger";
import { callRoute, createKeyedAccount, createTestApp, strongPassword } from "../helpers/app";
import { logLines } from "../helpers/logs";

let app: AppContext;
beforeAll(async () => {
  app = await createTestApp();
});

describe("structured logs", () => {
  it("writes one JSON line per request: id, route, status, duration, key and account ids, cost — never the key", async () => {
    const caller = await createKeyedAccount(app, { label: "logs" });
    const res = await callRoute(call.POST, "POST", "/api/tdk/v1/call", {
      bearer: caller.apiKey,
      body: { agent_id: "textstats", input: { text: "log me" } },
    });
    expect(res.status).toBe(200);
    const requestId = res.headers.get("x-request-id");
    const line = logLines().find((entry) => entry.request_id === requestId && entry.msg === "request");
    expect(line).toMatchObject({
      level: "info",
      service: "tdk-gateway",
      msg: "request",
      method: "POST",
      route: "/api/tdk/v1/call",
      status: 200,
      key_id: caller.key.id,
      account_id: caller.accountId,
      outcome: "succeeded",
      cost_micro: 3_000,
      agent_cost_micro: 2_000,
    });
    expect(typeof line!.duration_ms).toBe("number");
    expect(Date.parse(line!.time as string)).toBeGreaterThan(Date.now() - 60_000);

    // A refused request is logged too, with its status; the credentials it carried are not.
    const refused = await callRoute(login.POST, "POST", "/api/tdk/auth/login", {
      body: { email: "nobody@example.com", password: strongPassword },
    });
    const refusedLine = logLines().find((entry) => entry.request_id === refused.headers.get("x-request-id"));
    expect(refusedLine).toMatchObject({ status: 401, route: "/api/tdk/auth/login" });
    expect(JSON.stringify(logLines())).not.toContain(caller.apiKey);
  });

  it("writes a line for a pipeline step that failed after the reservation: the step, the outcome, the payment", async () => {
    const broken: LocalAgentDefinition = {
      id: "7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d",
      name: "brokenlogger",
      description: "Fails after it is paid.",
      priceMicro: 1_000n,
      feeBps: 1_000,
      inputSchema: z.object({}).strict(),
      outputSchema: z.object({}),
      handle: async () => {
        throw new Error("the agent crashed");
      },
    };
    const local = await createTestApp({ agents: [...demoAgents(), broken] });
    try {
      const caller = await createKeyedAccount(local, { label: "logs-broken", tier: "paid" });
      const res = await callRoute(call.POST, "POST", "/api/tdk/v1/call", {
        bearer: caller.apiKey,
        body: { agent_id: "brokenlogger", input: {} },
      });
      expect(res.status).toBe(502);
      const requestId = res.headers.get("x-request-id");
      const failed = logLines().find((entry) => entry.request_id === requestId && entry.msg === "paid call step failed");
      expect(failed).toMatchObject({ level: "warn", key_id: caller.key.id, outcome: "agent_failed", step: "submit_and_settle" });
      expect(failed!.tx_signature).toEqual(expect.any(String));
      expect(logLines().find((entry) => entry.request_id === requestId && entry.msg === "request")).toMatchObject({
        status: 502,
        outcome: "agent_failed",
      });
    } finally {
      setAppContext(app);
    }
  });

  it("redacts fields named like secrets in nested objects and arrays too, and scrubs nested strings; the caller's fields are left as they were", () => {
    const apiKey = "tk_test_4ZbLx9aQk3VbQmS3p2nRh7TtWvYz1KmN8";
    const fields = {
      probe: "redaction",
      token: "plain-looking-value",
      password: 12345,
      nested: { api_key: "also-plain", note: `carried ${apiKey}`, count: 3, deeper: { secret: ["a", "b"], kept: "yes" } },
      list: [{ authorization: "Basic abc" }, `Bearer opaque-value`],
      at: new Date("2026-12-07T00:00:00.000Z"),
    };
    const before = structuredClone(fields);
    logger.warn("probe with tk_test_4ZbLx9aQk3VbQmS3p2nRh7TtWvYz1KmN8 inside", fields);
    expect(fields).toEqual(before);
    const line = logLines().findLast((entry) => entry.probe === "redaction");
    expect(line).toMatchObject({
      msg: "probe with [redacted] inside",
      token: "[redacted]",
      password: "[redacted]",
      nested: { api_key: "[redacted]", note: "carried [redacted]", count: 3, deeper: { secret: "[redacted]", kept: "yes" } },
      list: [{ authorization: "[redacted]" }, "Bearer [redacted]"],
      at: "2026-12-07T00:00:00.000Z",
    });
    expect(JSON.stringify(line)).not.toContain("plain");
    expect(JSON.stringify(line)).not.toContain(apiKey);
  });

  it("scrubs anything shaped like a secret from messages and string fields", () => {
    expect(scrub("key tk_test_4ZbLx9aQk3VbQmS3p2nRh7TtWvYz1KmN8 leaked")).toBe("key [redacted] leaked");
    expect(scrub("Authorization: Bearer abc.def-ghi")).toBe("Authorization: Bearer [redacted]");
    expect(scrub("tds_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA and tdr_BBBBBBBBBBBBBBBBBBBBBBBB")).toBe("[redacted] and [redacted]");
    expect(scrub("sk_test_51Habcdefgh whsec_abcdefghij")).toBe("[redacted] [redacted]");
    expect(scrub("request req_abc123 for key 7b0c… ok")).toBe("request req_abc123 for key 7b0c… ok");
  });
});
