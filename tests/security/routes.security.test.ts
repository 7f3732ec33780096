import { readdirSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AppContext } from "@/lib/context";
import { routeContracts, type Auth } from "@/lib/openapi/contracts";
import { servicesFor } from "@/lib/services";
import { callRoute, createKeyedAccount, createTestApp, origin, sql, strongPassword, type CallOptions } from "../helpers/app";
import { startStripeStandIn, type StripeStandIn } from "../helpers/stripe-standin";

/**
 * The shared route-security suite (model: Unkey's `runCommonRouteTests`). It walks every route file
 * under app/api and every method it exports: each must be in the route contracts
 * (lib/openapi/contracts.ts) or in `internalRoutes` below, and each authenticated one must have a
 * case here: a route added without being covered fails the first test.
 *
 * Every authenticated route is then called with no credential, a malformed one, a revoked one, a
 * suspended account's, another tenant's id and a cross-site cookie. A refusal must be the documented
 * code, and must change nothing (the database's rows and the chain's balances are compared).
 */

type Method = "GET" | "POST" | "PATCH" | "DELETE";
type InternalAuth = "cron" | "stripe_signature";

/** Routes outside the public contract, with how they authenticate. */
const internalRoutes: { method: Method; path: string; auth: InternalAuth }[] = [
  { method: "GET", path: "/api/cron/recover-calls", auth: "cron" },
  { method: "GET", path: "/api/cron/reconcile", auth: "cron" },
  { method: "GET", path: "/api/cron/report-usage", auth: "cron" },
  { method: "GET", path: "/api/cron/reset-monthly", auth: "cron" },
  { method: "GET", path: "/api/cron/sweep-wallets", auth: "cron" },
  { method: "GET", path: "/api/cron/treasury-topup", auth: "cron" },
  { method: "POST", path: "/api/webhooks/stripe", auth: "stripe_signature" },
  // Bearer METRICS_TOKEN or CRON_SECRET: checked as the cron routes are.
  { method: "GET", path: "/api/metrics", auth: "cron" },
];

interface Tenant {
  accountId: string;
  email: string;
  apiKey: string;
  keyId: string;
  /** A second key, the one DELETE revokes when it is served (the first stays usable for the other routes). */
  spareKeyId: string;
  session: string;
  requestId: string;
}

interface Fixture {
  owner: Tenant;
  other: Tenant;
}

/** A request: the path's query string, the route's params, and its body. */
interface Shape {
  query?: string;
  params?: Record<string, string>;
  body?: unknown;
}

interface RouteCase {
  /** A request the route accepts from the owner of the credential. */
  request(f: Fixture): Shape;
  /** The same request naming the other tenant's object (404, nothing changed), or why the route names none. */
  otherTenant: ((f: Fixture) => Shape) | { none: string };
  /** What a suspended account's credential gets: refused with this code, or served (it must be able to see and pay its bill). */
  suspended: { status: number; code: string } | "served";
}

const cases: Record<string, RouteCase> = {
  // A wrong current password: served (400), nothing changed — the suite's tenants keep their passwords.
  "POST /api/tdk/account/password": {
    request: () => ({ body: { current_password: "not-the-password-1", new_password: "another-horse-43-battery" } }),
    otherTenant: { none: "acts on the caller's own account" },
    suspended: "served",
  },
  // A wrong password: served (400), nothing deleted.
  "DELETE /api/tdk/account": {
    request: () => ({ body: { password: "not-the-password-1" } }),
    otherTenant: { none: "acts on the caller's own account" },
    suspended: "served",
  },
  "POST /api/tdk/keys/{id}/rotate": {
    request: (f) => ({ params: { id: f.owner.spareKeyId }, body: { grace_period_hours: 24 } }),
    otherTenant: (f) => ({ params: { id: f.other.keyId }, body: { grace_period_hours: 24 } }),
    suspended: "served",
  },
  "GET /api/tdk/account/audit": {
    request: () => ({}),
    otherTenant: { none: "reads the caller's own account's log" },
    suspended: "served",
  },
  "GET /api/tdk/v1/me": {
    request: () => ({}),
    otherTenant: { none: "reads the calling key itself" },
    suspended: { status: 403, code: "account_suspended" },
  },
  "POST /api/tdk/auth/logout": { request: () => ({}), otherTenant: { none: "acts on the caller's own session" }, suspended: "served" },
  "GET /api/tdk/keys": { request: () => ({}), otherTenant: { none: "lists the caller's own keys" }, suspended: "served" },
  "POST /api/tdk/keys/generate": {
    request: () => ({ body: { name: "probe" } }),
    otherTenant: { none: "creates a key in the caller's own account" },
    suspended: { status: 403, code: "account_suspended" },
  },
  "GET /api/tdk/keys/{id}": {
    request: (f) => ({ params: { id: f.owner.keyId } }),
    otherTenant: (f) => ({ params: { id: f.other.keyId } }),
    suspended: "served",
  },
  "PATCH /api/tdk/keys/{id}": {
    request: (f) => ({ params: { id: f.owner.keyId }, body: { spend_limit_usd: "5", spend_limit_period: "day" } }),
    otherTenant: (f) => ({ params: { id: f.other.keyId }, body: { spend_limit_usd: "5", spend_limit_period: "day" } }),
    suspended: "served",
  },
  "DELETE /api/tdk/keys/{id}": {
    request: (f) => ({ params: { id: f.owner.spareKeyId } }),
    otherTenant: (f) => ({ params: { id: f.other.keyId } }),
    suspended: "served",
  },
  "POST /api/tdk/v1/call": {
    request: () => ({ body: { agent_id: "textstats", input: { text: "probe" } } }),
    otherTenant: { none: "pays from the key's own wallet; the agent is public" },
    suspended: { status: 403, code: "account_suspended" },
  },
  "GET /api/tdk/v1/calls/{request_id}": {
    request: (f) => ({ params: { request_id: f.owner.requestId } }),
    otherTenant: (f) => ({ params: { request_id: f.other.requestId } }),
    suspended: { status: 403, code: "account_suspended" },
  },
  "GET /api/tdk/v1/usage": {
    request: () => ({}),
    otherTenant: (f) => ({ query: `?key_id=${f.other.keyId}` }),
    suspended: { status: 403, code: "account_suspended" },
  },
  "GET /api/tdk/usage": {
    request: () => ({}),
    otherTenant: (f) => ({ query: `?key_id=${f.other.keyId}` }),
    suspended: "served",
  },
  "POST /api/tdk/billing/checkout": {
    request: () => ({ body: { tier: "paid" } }),
    otherTenant: { none: "acts on the caller's own account" },
    suspended: "served",
  },
  "POST /api/tdk/billing/card": { request: () => ({}), otherTenant: { none: "acts on the caller's own account" }, suspended: "served" },
  "POST /api/tdk/billing/portal": { request: () => ({}), otherTenant: { none: "acts on the caller's own account" }, suspended: "served" },
};

// Every route file, as Next.js finds them (app/api/**/route.ts); its path from its folders ("[id]" → "{id}").
const APP_DIR = path.resolve(__dirname, "../../app");
const routeFiles: Record<string, () => Promise<Record<string, unknown>>> = Object.fromEntries(
  readdirSync(path.join(APP_DIR, "api"), { recursive: true, encoding: "utf8" })
    .filter((file) => file === "route.ts" || file.endsWith(`${path.sep}route.ts`))
    .map((file) => {
      const absolute = path.join(APP_DIR, "api", file);
      return [absolute, () => import(absolute)];
    }),
);
const METHODS: Method[] = ["GET", "POST", "PATCH", "DELETE"];

function apiPath(file: string): string {
  return path
    .relative(APP_DIR, file)
    .split(path.sep)
    .join("/")
    .replace(/^/, "/")
    .replace(/\/route\.ts$/, "")
    .replace(/\[([^\]]+)\]/g, "{$1}");
}

interface Route {
  method: Method;
  path: string;
  auth: Auth | InternalAuth;
  handler: (...args: never[]) => Promise<Response>;
}

const routes: Route[] = [];
const unlisted: string[] = [];

const WEBHOOK_SECRET = "whsec_route_security";
const CRON_SECRET = "cron-secret-for-the-security-suite";
let stripe: StripeStandIn;
let app: AppContext;
let owner: Tenant;
let other: Tenant;
let revoked: Tenant;
let suspended: Tenant;
let loggedOut: string;

async function tenant(label: string): Promise<Tenant> {
  const account = await createKeyedAccount(app, { label });
  const { email } = account;
  const { token } = await servicesFor(app).accounts.logIn(email, strongPassword);
  const spare = await servicesFor(app).keys.create(account.accountId, "spare");
  const call = await callRoute((await routeModule("POST", "/api/tdk/v1/call")) as never, "POST", "/api/tdk/v1/call", {
    bearer: account.apiKey,
    body: { agent_id: "textstats", input: { text: `${label}'s call` } },
  });
  expect(call.status, call.text).toBe(200);
  return {
    accountId: account.accountId,
    email,
    apiKey: account.apiKey,
    keyId: account.key.id,
    spareKeyId: spare.key.id,
    session: token,
    requestId: call.json.usage.request_id,
  };
}

async function routeModule(method: Method, path: string) {
  const file = Object.keys(routeFiles).find((candidate) => apiPath(candidate) === path);
  if (!file) throw new Error(`no route file for ${path}`);
  return (await routeFiles[file]!())[method];
}

/** Everything a refused request must leave as it was: the rows that hold money, keys and sessions, and the wallets' balances. */
async function state(): Promise<string> {
  const tables = ["tdk_accounts", "tdk_api_keys", "tdk_usage", "tdk_wallet_fundings", "tdk_sessions", "tdk_billing_periods"];
  const rows = await Promise.all(
    tables.map(
      async (table) =>
        (
          await sql<{ digest: string | null }>(app.db, `select md5(string_agg(t::text, '|' order by t::text)) as digest from ${table} t`)
        )[0]!.digest,
    ),
  );
  const wallets = await sql<{ wallet_public_key: string }>(app.db, "select wallet_public_key from tdk_api_keys order by id");
  const balances = await Promise.all(
    wallets.map(async ({ wallet_public_key: key }) => {
      const { PublicKey } = await import("@solana/web3.js");
      const owner = new PublicKey(key);
      return `${await app.ledger.getUsdcBalance(owner)}/${await app.ledger.getSolBalance(owner)}`;
    }),
  );
  return JSON.stringify({ rows, balances });
}

function send(route: Route, shape: Shape, credentials: Pick<CallOptions, "bearer" | "cookie" | "headers">) {
  return callRoute(route.handler as never, route.method, `${route.path}${shape.query ?? ""}`, {
    params: shape.params,
    body: shape.body,
    ...credentials,
  });
}

/** Sends the request and checks the refusal: its status and code in the common error shape, and nothing changed. */
async function expectRefused(
  route: Route,
  shape: Shape,
  credentials: Pick<CallOptions, "bearer" | "cookie" | "headers">,
  status: number,
  code: string | string[],
) {
  const before = await state();
  const res = await send(route, shape, credentials);
  expect(res.status, `${route.method} ${route.path}: ${res.text}`).toBe(status);
  expect([code].flat(), `${route.method} ${route.path}: ${res.text}`).toContain(res.json?.error?.code);
  expect(res.json.error.request_id).toBe(res.headers.get("x-request-id"));
  expect(await state(), `${route.method} ${route.path} changed something while refusing`).toBe(before);
  return res;
}

const fixture = (): Fixture => ({ owner, other });
const authenticated = (auth: Route["auth"]) => auth === "session" || auth === "api_key";
const caseOf = (route: Route) => cases[`${route.method} ${route.path}`]!;

beforeAll(async () => {
  for (const file of Object.keys(routeFiles)) {
    const module = await routeFiles[file]!();
    const routePath = apiPath(file);
    for (const method of METHODS) {
      if (typeof module[method] !== "function") continue;
      const contract = routeContracts.find((c) => c.method.toUpperCase() === method && c.path === routePath);
      const internal = internalRoutes.find((r) => r.method === method && r.path === routePath);
      const auth = contract?.auth ?? internal?.auth;
      if (!auth) {
        unlisted.push(`${method} ${routePath}`);
        continue;
      }
      routes.push({ method, path: routePath, auth, handler: module[method] as Route["handler"] });
    }
  }

  stripe = await startStripeStandIn();
  app = await createTestApp({
    stripe: stripe.client(),
    env: {
      CRON_SECRET,
      STRIPE_SECRET_KEY: stripe.secretKey,
      STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
      STRIPE_PRICE_PAID: "price_paid_test",
      STRIPE_PRICE_PRO: "price_pro_test",
    },
  });
  [owner, other, revoked, suspended] = [await tenant("owner"), await tenant("other"), await tenant("revoked"), await tenant("suspended")];
  await servicesFor(app).keys.revoke(revoked.accountId, revoked.keyId);
  await sql(app.db, "update tdk_accounts set suspended_reason = 'payment_failed', suspended_at = now() where id = $1", [
    suspended.accountId,
  ]);
  loggedOut = (await servicesFor(app).accounts.logIn(owner.email, strongPassword)).token;
  await servicesFor(app).accounts.logOut(loggedOut);
});
afterAll(async () => stripe?.close());

describe("the route-security suite covers every route", () => {
  it("finds every route file and method in the contracts or the internal routes, and has a case for each authenticated one", () => {
    // The walk itself is checked: it found the routes this suite knows of.
    expect(routes.length).toBeGreaterThanOrEqual(routeContracts.length + internalRoutes.length - 1);
    expect(unlisted, "routes in app/api that are neither in lib/openapi/contracts.ts nor in internalRoutes").toEqual([]);
    const missing = routes.filter((route) => authenticated(route.auth) && !caseOf(route)).map((r) => `${r.method} ${r.path}`);
    expect(missing, "authenticated routes without a case in this suite").toEqual([]);
    const stale = Object.keys(cases).filter((name) => !routes.some((route) => `${route.method} ${route.path}` === name));
    expect(stale, "cases for routes that no longer exist").toEqual([]);
    // Every contract's route exists as a file with that method (the document promises nothing that is not served).
    for (const contract of routeContracts) {
      expect(
        routes.some((r) => r.method === contract.method.toUpperCase() && r.path === contract.path),
        `${contract.path}`,
      ).toBe(true);
    }
  });
});

describe.each(routeContracts.filter((c) => authenticated(c.auth)).map((c) => [`${c.method.toUpperCase()} ${c.path}`, c.auth] as const))(
  "%s (%s)",
  (name, auth) => {
    const route = () => routes.find((r) => `${r.method} ${r.path}` === name)!;
    const theCase = () => caseOf(route());
    const ownCredential = (t: Tenant) => (auth === "api_key" ? { bearer: t.apiKey } : { bearer: t.session });
    // A served request may end its session (log-out): each gets a session of its own.
    const freshCredential = async (t: Tenant) =>
      auth === "api_key" ? { bearer: t.apiKey } : { bearer: (await servicesFor(app).accounts.logIn(t.email, strongPassword)).token };

    it("refuses a request with no credential (401)", async () => {
      await expectRefused(route(), theCase().request(fixture()), {}, 401, "unauthorized");
    });

    it("refuses malformed credentials (401), with a cookie as well as a header", async () => {
      const shape = theCase().request(fixture());
      const malformed = auth === "api_key" ? ["invalid_api_key", "unauthorized"] : "unauthorized";
      await expectRefused(route(), shape, { bearer: "tk_test_notarealkey0000000000000000000000000000" }, 401, malformed);
      await expectRefused(route(), shape, { headers: { authorization: "Basic dXNlcjpwYXNz" } }, 401, "unauthorized");
      await expectRefused(route(), shape, { cookie: "tdk_session=tds_forged" }, 401, auth === "api_key" ? "unauthorized" : "unauthorized");
      // The other kind of credential is not this route's.
      const wrongKind = auth === "api_key" ? { bearer: owner.session } : { bearer: owner.apiKey };
      await expectRefused(route(), shape, wrongKind, 401, auth === "api_key" ? "invalid_api_key" : "unauthorized");
    });

    it("refuses a revoked credential (401)", async () => {
      if (auth === "api_key") await expectRefused(route(), theCase().request(fixture()), { bearer: revoked.apiKey }, 401, "key_revoked");
      else await expectRefused(route(), theCase().request(fixture()), { bearer: loggedOut }, 401, "unauthorized");
    });

    it("answers a suspended account as documented", async () => {
      const expected = theCase().suspended;
      const shape = theCase().request({ owner: suspended, other });
      if (expected === "served") {
        // Served: not refused for the suspension (some cases send a wrong password on purpose: a 400).
        const res = await send(route(), shape, await freshCredential(suspended));
        expect(res.status, res.text).toBeLessThan(500);
        expect([401, 403], res.text).not.toContain(res.status);
      } else {
        await expectRefused(route(), shape, ownCredential(suspended), expected.status, expected.code);
      }
    });

    it("does not reach another tenant's object (404, nothing changed)", async () => {
      const probe = theCase().otherTenant;
      if (!("none" in probe)) {
        await expectRefused(route(), probe(fixture()), ownCredential(owner), 404, "not_found");
      } else {
        // The route takes no id: say why, so a route that gains one must gain a probe.
        expect(probe.none).toMatch(/\w/);
        const contract = routeContracts.find((c) => `${c.method.toUpperCase()} ${c.path}` === name)!;
        expect(contract.params, `${name} takes params: give it an otherTenant probe`).toBeUndefined();
      }
    });

    it("refuses a cross-site request carrying the session cookie", async () => {
      const shape = theCase().request(fixture());
      const crossSite = { cookie: `tdk_session=${owner.session}`, headers: { origin: "https://evil.example" } };
      if (auth === "api_key") {
        // A cookie is never a credential of the key API.
        await expectRefused(route(), shape, crossSite, 401, "unauthorized");
      } else if (route().method === "GET") {
        // Reading is allowed to the cookie's owner; the browser keeps the answer from the other site (no CORS header).
        const res = await send(route(), shape, crossSite);
        expect(res.status, res.text).toBe(200);
        expect(res.headers.get("access-control-allow-origin")).toBeNull();
      } else {
        await expectRefused(route(), shape, crossSite, 403, "cross_site_request");
        // Without an Origin header at all, a cookie-authenticated change is refused too.
        await expectRefused(route(), shape, { cookie: `tdk_session=${owner.session}` }, 403, "cross_site_request");
      }
    });
  },
);

describe("internal routes", () => {
  it("cron routes refuse a request without Bearer CRON_SECRET, or with another secret, changing nothing", async () => {
    for (const route of routes.filter((r) => r.auth === "cron")) {
      await expectRefused(route, {}, {}, 401, "unauthorized");
      await expectRefused(route, {}, { bearer: `${CRON_SECRET}x` }, 401, "unauthorized");
      await expectRefused(route, {}, { bearer: owner.session }, 401, "unauthorized");
    }
  });

  it("the Stripe webhook refuses an unsigned or forged event, changing nothing", async () => {
    const route = routes.find((r) => r.auth === "stripe_signature")!;
    const event = JSON.stringify({ id: "evt_forged", type: "invoice.payment_failed", data: { object: { customer: "cus_x" } } });
    const forged = `t=${Math.floor(Date.now() / 1000)},v1=${"0".repeat(64)}`;
    const before = await state();
    for (const headers of [{}, { "stripe-signature": forged }] as Record<string, string>[]) {
      const res = await callRoute(route.handler as never, "POST", route.path, {
        rawBody: event,
        headers: { "content-type": "application/json", ...headers },
      });
      expect(res.status, res.text).toBe(400);
      expect(res.json.error.code).toBe("invalid_signature");
    }
    expect(await state()).toBe(before);
  });

  it("a cookie from this site is accepted for a change when the Origin is this site (the refusals above are about the origin)", async () => {
    const route = routes.find((r) => r.method === "PATCH" && r.path === "/api/tdk/keys/{id}")!;
    const res = await send(route, cases["PATCH /api/tdk/keys/{id}"]!.request(fixture()), {
      cookie: `tdk_session=${owner.session}`,
      headers: { origin },
    });
    expect(res.status, res.text).toBe(200);
  });
});
