import { beforeAll, describe, expect, it } from "vitest";
import * as call from "@/app/api/tdk/v1/call/route";
import * as login from "@/app/api/tdk/auth/login/route";
import type { AppContext } from "@/lib/context";
import { scrub } from "@/lib/logger";
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

  it("scrubs anything shaped like a secret from messages and string fields", () => {
    expect(scrub("key tk_test_4ZbLx9aQk3VbQmS3p2nRh7TtWvYz1KmN8 leaked")).toBe("key [redacted] leaked");
    expect(scrub("Authorization: Bearer abc.def-ghi")).toBe("Authorization: Bearer [redacted]");
    expect(scrub("tds_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA and tdr_BBBBBBBBBBBBBBBBBBBBBBBB")).toBe("[redacted] and [redacted]");
    expect(scrub("sk_test_51Habcdefgh whsec_abcdefghij")).toBe("[redacted] [redacted]");
    expect(scrub("request req_abc123 for key 7b0c… ok")).toBe("request req_abc123 for key 7b0c… ok");
  });
});
