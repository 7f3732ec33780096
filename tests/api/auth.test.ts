import { beforeAll, describe, expect, it } from "vitest";
import * as register from "@/app/api/tdk/auth/register/route";
import * as login from "@/app/api/tdk/auth/login/route";
import * as logout from "@/app/api/tdk/auth/logout/route";
import * as keys from "@/app/api/tdk/keys/route";
import type { AppContext } from "@/lib/context";
import { callRoute, createTestApp, origin, strongPassword, uniqueEmail, sql } from "../helpers/app";

let app: AppContext;
beforeAll(async () => {
  app = await createTestApp();
});

async function accountCount(): Promise<number> {
  // Counted through the database directly: the API must not have written anything on a 4xx.
  const { PGliteDatabase } = await import("@/lib/db/pglite");
  expect(app.db).toBeInstanceOf(PGliteDatabase);
  return Number(((await sql(app.db, "select count(*)::int as n from tdk_accounts"))[0] as { n: number }).n);
}

describe("POST /api/tdk/auth/register", () => {
  it("creates an account and answers 201 without the password hash", async () => {
    const email = uniqueEmail();
    const res = await callRoute(register.POST, "POST", "/api/tdk/auth/register", {
      body: { email: `  ${email.toUpperCase()} `, password: strongPassword },
    });
    expect(res.status).toBe(201);
    expect(res.json.account).toMatchObject({ email, tier: "free" });
    expect(res.json.account.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.text).not.toContain("password");
    expect(res.text).not.toContain("$2");
    expect(res.headers.get("x-request-id")).toMatch(/^req_/);
  });

  it("answers 409 for an email already registered, in any case", async () => {
    const email = uniqueEmail();
    expect((await callRoute(register.POST, "POST", "/", { body: { email, password: strongPassword } })).status).toBe(201);
    const before = await accountCount();
    const again = await callRoute(register.POST, "POST", "/", { body: { email: email.toUpperCase(), password: strongPassword } });
    expect(again.status).toBe(409);
    expect(again.json.error).toMatchObject({ code: "email_taken" });
    expect(again.json.error.request_id).toBe(again.headers.get("x-request-id"));
    expect(await accountCount()).toBe(before);
  });

  it.each([
    ["a bad email", { email: "not-an-email", password: strongPassword }, "email"],
    ["a short password", { email: "x@example.com", password: "short1" }, "password"],
    ["a letters-only password", { email: "x@example.com", password: "abcdefghijklmnop" }, "password"],
    ["a password over bcrypt's 72 bytes", { email: "x@example.com", password: `a1${"é".repeat(40)}` }, "password"],
    ["a missing password", { email: "x@example.com" }, "password"],
    ["an unknown field", { email: "x@example.com", password: strongPassword, tier: "pro" }, "_"],
  ])("answers 400 with field errors for %s, writing nothing", async (_label, body, field) => {
    const before = await accountCount();
    const res = await callRoute(register.POST, "POST", "/", { body });
    expect(res.status).toBe(400);
    expect(res.json.error.code).toBe("validation_failed");
    expect(Object.keys(res.json.error.fields)).toContain(field);
    expect(await accountCount()).toBe(before);
  });

  it("answers 400 for malformed JSON, 415 for another content type, 413 for a huge body", async () => {
    expect(
      (await callRoute(register.POST, "POST", "/", { rawBody: "{nope", headers: { "content-type": "application/json" } })).json.error.code,
    ).toBe("invalid_json");
    const form = await callRoute(register.POST, "POST", "/", {
      rawBody: "email=a",
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expect(form.status).toBe(415);
    const huge = await callRoute(register.POST, "POST", "/", { body: { email: "x@example.com", password: "a1".repeat(20_000) } });
    expect(huge.status).toBe(413);
    expect(huge.json.error.code).toBe("payload_too_large");
  });

  it("rate limits sign-ups per IP with 429 and Retry-After", async () => {
    const ip = "203.0.113.50";
    const statuses: number[] = [];
    for (let i = 0; i < 21; i += 1) {
      // Invalid bodies: counted by the per-IP limit all the same, and cheap (no bcrypt).
      const res = await callRoute(register.POST, "POST", "/", { body: { email: "bad" }, headers: { "x-forwarded-for": ip } });
      statuses.push(res.status);
      if (res.status === 429) {
        expect(res.json.error.code).toBe("rate_limited");
        expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
      }
    }
    expect(statuses.slice(0, 20).every((status) => status === 400)).toBe(true);
    expect(statuses[20]).toBe(429);
  });
});

describe("POST /api/tdk/auth/login and /logout", () => {
  const email = uniqueEmail("login");
  beforeAll(async () => {
    expect((await callRoute(register.POST, "POST", "/", { body: { email, password: strongPassword } })).status).toBe(201);
  });

  it("logs in with a session token and a secure HttpOnly cookie", async () => {
    const res = await callRoute(login.POST, "POST", "/", { body: { email, password: strongPassword } });
    expect(res.status).toBe(200);
    expect(res.json.session_token).toMatch(/^tds_/);
    expect(new Date(res.json.expires_at).getTime()).toBeGreaterThan(Date.now());
    const cookie = res.headers.get("set-cookie")!;
    expect(cookie).toContain(`tdk_session=${res.json.session_token}`);
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/Secure/i);
    expect(cookie).toMatch(/SameSite=lax/i);
    const stored = await sql(app.db, "select token_hash from tdk_sessions");
    expect(JSON.stringify(stored)).not.toContain(res.json.session_token);
  });

  it("answers the same 401 for an unknown email and a wrong password", async () => {
    const wrong = await callRoute(login.POST, "POST", "/", { body: { email, password: "wrong-password-1" } });
    const unknown = await callRoute(login.POST, "POST", "/", { body: { email: uniqueEmail("nobody"), password: strongPassword } });
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(wrong.json.error.code).toBe("invalid_credentials");
    expect(unknown.json.error.message).toBe(wrong.json.error.message);
  });

  it("answers 400 for a malformed log-in body", async () => {
    const res = await callRoute(login.POST, "POST", "/", { body: { email: "nope", password: "" } });
    expect(res.status).toBe(400);
    expect(Object.keys(res.json.error.fields).sort()).toEqual(["email", "password"]);
  });

  it("stops brute force on one email with 429, whatever the IP", async () => {
    const target = uniqueEmail("victim");
    let last = 0;
    for (let i = 0; i < 11; i += 1) {
      last = (
        await callRoute(login.POST, "POST", "/", {
          body: { email: target, password: `guess-${i}-xx` },
          headers: { "x-forwarded-for": `192.0.2.${i}` },
        })
      ).status;
    }
    expect(last).toBe(429);
  });

  it("revokes the session on logout: the token stops working", async () => {
    const { json: session } = await callRoute(login.POST, "POST", "/", { body: { email, password: strongPassword } });
    expect((await callRoute(keys.GET, "GET", "/api/tdk/keys", { bearer: session.session_token })).status).toBe(200);
    const out = await callRoute(logout.POST, "POST", "/", { bearer: session.session_token });
    expect(out.status).toBe(200);
    expect(out.json.revoked).toBe(true);
    expect(out.headers.get("set-cookie")).toMatch(/tdk_session=;/);
    expect((await callRoute(keys.GET, "GET", "/api/tdk/keys", { bearer: session.session_token })).status).toBe(401);
  });

  it("refuses a cookie-authenticated logout from another origin, and accepts our own", async () => {
    const { json: session } = await callRoute(login.POST, "POST", "/", { body: { email, password: strongPassword } });
    const cookie = `tdk_session=${session.session_token}`;
    const crossSite = await callRoute(logout.POST, "POST", "/", { cookie, headers: { origin: "https://evil.example" } });
    expect(crossSite.status).toBe(403);
    expect(crossSite.json.error.code).toBe("cross_site_request");
    const noOrigin = await callRoute(logout.POST, "POST", "/", { cookie });
    expect(noOrigin.status).toBe(403);
    expect((await callRoute(keys.GET, "GET", "/", { cookie })).status).toBe(200);
    expect((await callRoute(logout.POST, "POST", "/", { cookie, headers: { origin } })).status).toBe(200);
    expect((await callRoute(keys.GET, "GET", "/", { cookie })).status).toBe(401);
  });

  it("answers 401 to logout without a session", async () => {
    expect((await callRoute(logout.POST, "POST", "/")).status).toBe(401);
    expect((await callRoute(logout.POST, "POST", "/", { bearer: "tds_garbage" })).status).toBe(401);
  });
});
