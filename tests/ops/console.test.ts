import { beforeAll, describe, expect, it } from "vitest";
import * as login from "@/app/api/tdk/auth/login/route";
import * as call from "@/app/api/tdk/v1/call/route";
import type { Session } from "@/lib/auth/sessions";
import type { AppContext } from "@/lib/context";
import { ApiError } from "@/lib/errors";
import { servicesFor } from "@/lib/services";
import { adminCommand } from "@/scripts/admin";
import { callRoute, createKeyedAccount, createTestApp, sql, strongPassword } from "../helpers/app";

let app: AppContext;
beforeAll(async () => {
  app = await createTestApp();
});

async function sessionOf(email: string): Promise<Session> {
  const token = (await callRoute(login.POST, "POST", "/", { body: { email, password: strongPassword } })).json.session_token;
  return (await servicesFor(app).accounts.session(token))!;
}

function refusal(fn: () => unknown): string | null {
  try {
    fn();
    return null;
  } catch (error) {
    if (error instanceof ApiError) return error.code;
    throw error;
  }
}

describe("the operator console's service", () => {
  it("grants the role from the command line only; refuses non-admins as not found, and a stale session for actions", async () => {
    const { admin } = servicesFor(app);
    const operator = await createKeyedAccount(app, { label: "operator" });
    const developer = await createKeyedAccount(app, { label: "developer" });

    expect(refusal(() => admin.operator(null))).toBe("not_found");
    const developerSession = await sessionOf(developer.email);
    expect(refusal(() => admin.operator(developerSession))).toBe("not_found");
    expect(refusal(() => admin.operator(developerSession, { action: true }))).toBe("not_found");

    expect(await adminCommand(app.db, ["grant"])).toMatchObject({ code: 2 });
    expect(await adminCommand(app.db, ["grant", "nobody@example.com"])).toMatchObject({ code: 1 });
    expect(await adminCommand(app.db, ["grant", operator.email])).toMatchObject({ code: 0 });
    const fresh = await sessionOf(operator.email);
    expect(admin.operator(fresh, { action: true })).toEqual({ accountId: operator.accountId, actor: `operator:${operator.accountId}` });
    // A session begun 16 minutes ago may look, not act.
    const stale = { ...fresh, created_at: new Date(Date.now() - 16 * 60_000).toISOString() };
    expect(refusal(() => admin.operator(stale))).toBeNull();
    expect(refusal(() => admin.operator(stale, { action: true }))).toBe("reauthentication_required");
    // Revoked again: refused as anyone else.
    await adminCommand(app.db, ["revoke", operator.email]);
    expect(refusal(() => admin.operator(fresh))).toBeNull(); // the session read before the revocation
    const afterRevocation = await sessionOf(operator.email);
    expect(refusal(() => admin.operator(afterRevocation))).toBe("not_found");
  });

  it("suspends and lifts, sets the tier, resolves flagged usage, resets a breaker: each takes effect and is in the audit log by the operator", async () => {
    const { admin } = servicesFor(app);
    const operatorAccount = await createKeyedAccount(app, { label: "operator-2" });
    await adminCommand(app.db, ["grant", operatorAccount.email]);
    const operator = admin.operator(await sessionOf(operatorAccount.email), { action: true });
    const target = await createKeyedAccount(app, { label: "target" });
    const paid = () => callRoute(call.POST, "POST", "/", { bearer: target.apiKey, body: { agent_id: "textstats", input: { text: "x" } } });

    expect((await admin.search(target.email)).map((match) => match.id)).toEqual([target.accountId]);
    expect((await admin.search(target.accountId)).map((match) => match.id)).toEqual([target.accountId]);

    await admin.suspend(operator, target.accountId, "fraud_review");
    expect((await paid()).json.error).toMatchObject({ code: "account_suspended", reason: "fraud_review" });
    await admin.lift(operator, target.accountId);
    expect((await paid()).status).toBe(200);
    await admin.setTier(operator, target.accountId, "pro");
    expect((await admin.account(target.accountId))!.account.tier).toBe("pro");

    // Overrides: a free account's monthly quota of 2 (one call used): one more, then refused; cleared, the default again.
    await admin.setTier(operator, target.accountId, "free");
    await admin.setOverrides(operator, target.accountId, { quota: 2, freeAllowanceMicro: null, agentFailedCapMicro: null });
    expect((await paid()).status).toBe(200);
    expect((await paid()).json.error).toMatchObject({ code: "quota_exceeded", limit: 2 });
    await admin.setOverrides(operator, target.accountId, { quota: null, freeAllowanceMicro: null, agentFailedCapMicro: null });
    expect((await paid()).status).toBe(200);
    await admin.setTier(operator, target.accountId, "pro");
    await sql(app.db, "update tdk_usage set billing_status = 'flagged' where account_id = $1", [target.accountId]);
    expect(await admin.resolveFlagged(operator, target.accountId, false)).toMatchObject({ calls: 3 });
    expect((await admin.account(target.accountId))!.flagged_calls).toBe(0);

    await sql(app.db, "insert into tdk_agent_breakers (agent_id, open_until, trips) values ('agent-x', now() + interval '10 minutes', 3)");
    expect((await admin.breakers()).map((breaker) => breaker.agent_id)).toContain("agent-x");
    await admin.resetBreaker(operator, "agent-x");
    expect((await admin.breakers()).map((breaker) => breaker.agent_id)).not.toContain("agent-x");
    await expect(admin.suspend(operator, "00000000-0000-4000-8000-000000000000", "x")).rejects.toMatchObject({ code: "not_found" });

    const entries = await admin.auditLog(target.accountId);
    const byOperator = entries.filter((entry) => entry.actor === operator.actor).map((entry) => [entry.action, entry.before, entry.after]);
    expect(byOperator).toEqual(
      expect.arrayContaining([
        ["account.suspended", { suspended_reason: null }, { suspended_reason: "fraud_review" }],
        ["account.suspension_lifted", { suspended_reason: "fraud_review" }, { suspended_reason: null }],
        ["account.tier_changed", { tier: "free" }, { tier: "pro" }],
        ["usage.flagged_written_off", { flagged_calls: 3, flagged_micro: 9_000 }, null],
        ["account.overrides_changed", {}, { free_monthly_quota: 2 }],
        ["account.overrides_changed", { free_monthly_quota: 2 }, {}],
      ]),
    );
    const breakerEntry = (await admin.auditLog(null, 200)).find((entry) => entry.action === "agent.breaker_reset")!;
    expect(breakerEntry).toMatchObject({ actor: operator.actor, target_id: "agent-x", before: { trips: 3 } });
    const grant = (await admin.auditLog(operatorAccount.accountId)).find((entry) => entry.action === "account.role_changed")!;
    expect(grant).toMatchObject({ actor: "operator:cli", before: { role: "developer" }, after: { role: "admin" } });
  });
});
